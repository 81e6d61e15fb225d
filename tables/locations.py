"""The location directory every worker holds: which areas each location belongs to, as
`vigil.locations` says now, in arrays a matcher tests a whole batch against at once.

Each known location has a dense code (uint32; a deleted location's code is reused) and
each area name a code (interned for good: an entry scope may name an area before any
location joins it, and must start matching once one does). A location's areas are one
row of a CSR-like table: `row_start[code]`, `row_len[code]` index `cells`, which holds
area codes. A row is rewritten in place when the new areas fit its space, else appended
at the end of `cells`; the space left behind is reclaimed by compacting once it is more
than half of `cells`. So an update costs O(its areas). Measured: 10^6 locations in 3
areas each, 23 MB of arrays and 79 MB more resident in all (the id-to-code dict is most of
the rest; the id strings themselves come on top); 180,000 upserts a second.

Arrays are replaced when they grow: take them from `membership()` for each batch, on the
thread that applies location commands (the event loop), not across an await.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from numba import njit

from schemas.locations import LocationUpsert

NO_LOCATION = np.uint32(0xFFFF_FFFF)  # the code of a location the directory does not know
_MIN_CAPACITY = 1024
# Compact `cells` once the space rows left behind is over half of it and at least this.
_COMPACT_MIN_CELLS = 4096


class Membership(NamedTuple):
    """The area rows of every location code, for kernels: location `c` belongs to the
    areas `cells[row_start[c]:row_start[c] + row_len[c]]` (a free code has row_len 0)."""

    row_start: np.ndarray  # uint32, per location code
    row_len: np.ndarray  # uint8, per location code
    cells: np.ndarray  # uint32 area codes


@njit(nogil=True, cache=True)
def _in_any_area(codes, row_start, row_len, cells, want_offsets, want_areas, out):
    n_codes = row_len.shape[0]
    for i in range(codes.shape[0]):
        c = codes[i]
        found = False
        if c < n_codes:
            lo, hi = want_offsets[i], want_offsets[i + 1]
            start = np.int64(row_start[c])
            for j in range(start, start + np.int64(row_len[c])):
                area = cells[j]
                for k in range(lo, hi):
                    if want_areas[k] == area:
                        found = True
                        break
                if found:
                    break
        out[i] = found
    return out


def in_any_area(membership: Membership, codes: np.ndarray, want_offsets: np.ndarray,
                want_areas: np.ndarray) -> np.ndarray:
    """Return, for each i, whether location `codes[i]` belongs to one of the areas
    `want_areas[want_offsets[i]:want_offsets[i + 1]]` (an entry scope's area codes, from
    `LocationDirectory.intern_areas`). NO_LOCATION belongs to none. One kernel call a batch.
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint32)
    want_offsets = np.ascontiguousarray(want_offsets, dtype=np.int64)
    want_areas = np.ascontiguousarray(want_areas, dtype=np.uint32)
    if want_offsets.shape[0] != codes.shape[0] + 1:
        raise ValueError(f"want_offsets has {want_offsets.shape[0]} items, "
                         f"not len(codes) + 1 = {codes.shape[0] + 1}")
    out = np.empty(codes.shape[0], dtype=np.bool_)
    return _in_any_area(codes, membership.row_start, membership.row_len, membership.cells,
                        want_offsets, want_areas, out)


def _grown(array: np.ndarray, at_least: int) -> np.ndarray:
    bigger = np.zeros(max(at_least, 2 * array.shape[0]), dtype=array.dtype)
    bigger[: array.shape[0]] = array
    return bigger


class LocationDirectory:
    """Location id to areas, updated live from `vigil.locations` (upsert replaces a
    location's areas, delete forgets it); `areas_of` for a console, `location_codes`,
    `intern_areas` and `membership` (with `in_any_area`) for a matcher."""

    def __init__(self) -> None:
        self._code_of: dict[str, int] = {}
        self._codes_made = 0
        self._free: list[int] = []  # codes of deleted locations, to reuse
        self._area_code_of: dict[str, int] = {}
        self._area_names: list[str] = []
        self._area_members: list[int] = []  # locations per area code
        self._areas_nonempty = 0
        self._row_start = np.zeros(_MIN_CAPACITY, dtype=np.uint32)
        self._row_len = np.zeros(_MIN_CAPACITY, dtype=np.uint8)
        self._row_space = np.zeros(_MIN_CAPACITY, dtype=np.uint8)
        self._cells = np.zeros(4 * _MIN_CAPACITY, dtype=np.uint32)
        self._cells_used = 0
        self._cells_left_behind = 0

    def __len__(self) -> int:
        return len(self._code_of)

    def __contains__(self, location_id: object) -> bool:
        return location_id in self._code_of

    @property
    def areas_known(self) -> int:
        """How many areas at least one location belongs to."""
        return self._areas_nonempty

    @property
    def nbytes(self) -> int:
        """Bytes held by the membership arrays (not counting the id dict)."""
        return sum(a.nbytes for a in (self._row_start, self._row_len, self._row_space,
                                      self._cells))

    def membership(self) -> Membership:
        """Return the area rows as they are now (see the module on when to take them)."""
        return Membership(self._row_start, self._row_len, self._cells)

    def location_codes(self, location_ids: Sequence[str]) -> np.ndarray:
        """Return the code of each location id (uint32), NO_LOCATION for an unknown one."""
        get, none = self._code_of.get, int(NO_LOCATION)
        return np.fromiter((get(i, none) for i in location_ids), dtype=np.uint32,
                           count=len(location_ids))

    def intern_areas(self, names: Iterable[str]) -> np.ndarray:
        """Return the code of each area name (uint32), giving new names a code for good."""
        return np.fromiter((self._area_code(n) for n in names), dtype=np.uint32)

    def areas_of(self, location_id: str) -> tuple[str, ...] | None:
        """Return the areas of a location (in the order its command gave them), None when
        the directory does not know it."""
        code = self._code_of.get(location_id)
        if code is None:
            return None
        start = int(self._row_start[code])
        names = self._area_names
        return tuple(names[a] for a in self._cells[start:start + int(self._row_len[code])])

    def upsert(self, location: LocationUpsert) -> None:
        """Add a location, or replace the areas of a known one."""
        code = self._code_of.get(location.location_id)
        if code is None:
            code = self._new_code(location.location_id)
        else:
            self._count_members(self._row(code), -1)
        area_code = self._area_code
        row = [area_code(a) for a in location.areas]
        n = len(row)
        space = int(self._row_space[code])
        if n > space:
            self._cells_left_behind += space
            if self._cells_used + n > self._cells.shape[0]:
                self._cells = _grown(self._cells, self._cells_used + n)
            self._row_start[code], self._row_space[code] = self._cells_used, n
            self._cells_used += n
        if n:
            start = int(self._row_start[code])
            self._cells[start:start + n] = row
        self._row_len[code] = n
        self._count_members(row, +1)
        self._compact_if_worth_it()

    def delete(self, location_id: str) -> bool:
        """Forget a location; return whether it was known."""
        code = self._code_of.pop(location_id, None)
        if code is None:
            return False
        self._count_members(self._row(code), -1)
        self._cells_left_behind += int(self._row_space[code])
        self._row_start[code] = self._row_len[code] = self._row_space[code] = 0
        self._free.append(code)
        self._compact_if_worth_it()
        return True

    def clear(self) -> None:
        """Forget every location (area names keep their codes: scopes hold them)."""
        for location_id in list(self._code_of):
            self.delete(location_id)

    def _new_code(self, location_id: str) -> int:
        if self._free:
            code = self._free.pop()
        else:
            code, self._codes_made = self._codes_made, self._codes_made + 1
            if code >= self._row_len.shape[0]:
                self._row_start = _grown(self._row_start, code + 1)
                self._row_len = _grown(self._row_len, code + 1)
                self._row_space = _grown(self._row_space, code + 1)
        self._code_of[location_id] = code
        return code

    def _area_code(self, name: str) -> int:
        code = self._area_code_of.get(name)
        if code is None:
            code = self._area_code_of[name] = len(self._area_names)
            self._area_names.append(name)
            self._area_members.append(0)
        return code

    def _row(self, code: int) -> list[int]:
        start = int(self._row_start[code])
        return self._cells[start:start + int(self._row_len[code])].tolist()

    def _count_members(self, row: list[int], change: int) -> None:
        # Names in a row are distinct (schemas/locations.py), so each area counts once.
        members = self._area_members
        for area in row:
            before = members[area]
            members[area] = before + change
            self._areas_nonempty += (before == 0) - (before + change == 0)

    def _compact_if_worth_it(self) -> None:
        left = self._cells_left_behind
        if left < _COMPACT_MIN_CELLS or 2 * left < self._cells_used:
            return
        used = self._row_space != 0
        spaces = self._row_space[used].astype(np.int64)
        old_starts = self._row_start[used].astype(np.int64)
        new_starts = np.cumsum(spaces) - spaces
        total = int(spaces.sum())
        # Cell p of a moved row comes from p - (its new start) + (its old start).
        source = np.arange(total, dtype=np.int64) + np.repeat(old_starts - new_starts, spaces)
        cells = np.zeros(max(4 * _MIN_CAPACITY, 2 * total), dtype=np.uint32)
        cells[:total] = self._cells[source]
        self._row_start = np.zeros_like(self._row_start)
        self._row_start[used] = new_starts
        self._cells, self._cells_used, self._cells_left_behind = cells, total, 0
