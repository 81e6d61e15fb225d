"""ScopeTable: the distinct scopes of a watchlist's entries, by id, and the scope check of
a batch's key matches (place and time) in two kernel calls.

An entry keeps only its scope's id (`tables/watchlist.py` packs it into the entry's
attributes; 0 = unscoped), so equal scopes are held once however many entries share them.
Ids are not reused: a watchlist holds few distinct scopes (each is a Python object), and
`clear` starts over. Area names are coded by the LocationDirectory (`vigil.locations`), so
a location's areas are looked up as they are when a record is matched; location ids a
scope names are coded here, whether or not the directory knows them (the contract matches
them by id).

Plain-Python twin: `in_scope_py` in `tables/scope_reference.py`
(`tests/tables/test_scope_table.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from schemas.scope import Scope
from tables.locations import LocationDirectory
from tables.scope import ANY_TIME, HoursTable, in_time

NO_CODE = np.uint32(0xFFFF_FFFF)
UNSCOPED = 0


@njit(nogil=True, cache=True)
def _in_place(scope_ids, named, dir_codes, limits, loc_ptr, loc_cells, area_ptr, area_cells,
              row_start, row_len, cells, out):
    """out[i]: whether hit i's location (its code among the locations scopes name, and its
    directory code) is in the places of scope scope_ids[i]."""
    n_codes = row_len.shape[0]
    for i in range(scope_ids.shape[0]):
        s = scope_ids[i]
        inside = not limits[s]
        for j in range(loc_ptr[s], loc_ptr[s + 1]):
            if inside:
                break
            inside = loc_cells[j] == named[i]
        c = dir_codes[i]
        if not inside and c < n_codes:
            start = np.int64(row_start[c])
            for j in range(start, start + np.int64(row_len[c])):
                for k in range(area_ptr[s], area_ptr[s + 1]):
                    if area_cells[k] == cells[j]:
                        inside = True
                if inside:
                    break
        out[i] = inside
    return out


class ScopeTable:
    """Scopes by id (0: none), with their hours compiled and their places coded."""

    def __init__(self, directory: LocationDirectory) -> None:
        self.directory = directory
        self.clear()

    def clear(self) -> None:
        """Forget every scope."""
        self._ids: dict[Scope, int] = {}
        self._scopes: list[Scope | None] = [None]
        self._hours = HoursTable()
        self._hours_of: list[int] = [ANY_TIME]
        self._named: dict[str, int] = {}
        self._places: list[tuple[bool, list[int], list[int]]] = [(False, [], [])]
        self._arrays: tuple[np.ndarray, ...] | None = None

    def __len__(self) -> int:
        """How many scopes (unscoped included)."""
        return len(self._scopes)

    @property
    def scopes(self) -> list[Scope | None]:
        """Every scope by id (a checkpoint keeps them, to add them again in this order)."""
        return list(self._scopes)

    def add(self, scope: Scope | None) -> int:
        """Return the id of `scope` (UNSCOPED for None), adding it when it is new."""
        if scope is None:
            return UNSCOPED
        scope_id = self._ids.get(scope)
        if scope_id is None:
            scope_id = self._ids[scope] = len(self._scopes)
            self._scopes.append(scope)
            self._hours_of.append(self._hours.add(scope))
            named = [self._named.setdefault(loc, len(self._named)) for loc in scope.locations]
            areas = self.directory.intern_areas(scope.areas).tolist()
            self._places.append((scope.limits_place, named, areas))
            self._arrays = None
        return scope_id

    def scope(self, scope_id: int) -> Scope | None:
        """Return the scope with this id (None for UNSCOPED)."""
        return self._scopes[scope_id]

    def _compiled(self) -> tuple[np.ndarray, ...]:
        if self._arrays is None:
            limits = np.array([p[0] for p in self._places], np.bool_)
            loc_ptr = np.cumsum([0] + [len(p[1]) for p in self._places], dtype=np.int64)
            area_ptr = np.cumsum([0] + [len(p[2]) for p in self._places], dtype=np.int64)
            loc_cells = np.array([c for p in self._places for c in p[1]], np.uint32)
            area_cells = np.array([c for p in self._places for c in p[2]], np.uint32)
            self._arrays = (np.array(self._hours_of, np.int32), limits, loc_ptr, loc_cells,
                            area_ptr, area_cells)
        return self._arrays

    def in_scope(self, scope_ids: np.ndarray, ts_ms: np.ndarray, location_ids: Sequence[str]
                 ) -> np.ndarray:
        """Return, per key match, whether it is in its entry's scope: observed at `ts_ms[i]`
        at `location_ids[i]`, against scope `scope_ids[i]` (UNSCOPED: always)."""
        hours_of, limits, loc_ptr, loc_cells, area_ptr, area_cells = self._compiled()
        scope_ids = np.ascontiguousarray(scope_ids, np.int64)
        timely = in_time(self._hours.compiled(), hours_of[scope_ids], ts_ms)
        named = np.fromiter((self._named.get(loc, NO_CODE) for loc in location_ids), np.uint32,
                            len(location_ids))
        membership = self.directory.membership()
        placed = _in_place(scope_ids, named, self.directory.location_codes(location_ids),
                           limits, loc_ptr, loc_cells, area_ptr, area_cells,
                           membership.row_start, membership.row_len, membership.cells,
                           np.empty(len(scope_ids), np.bool_))
        return timely & placed


def warm_up() -> None:
    """Compile the place kernel (or load it from numba's cache), as the matcher calls it."""
    table = ScopeTable(LocationDirectory())
    scope_id = table.add(Scope(locations=("L-1",), areas=("a",), hours=(), tz="UTC"))
    table.in_scope(np.array([scope_id, UNSCOPED]), np.zeros(2, np.int64), ["L-1", "L-2"])
