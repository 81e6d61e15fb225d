"""The time half of entry scope, vectorised: are these hits inside their entries' hours?

The matcher calls `in_time` on the hash hits of a batch, after the key matched: each hit is
(scope id, observed ts). A scope id comes from `HoursTable.add`, which keeps one compiled
copy of each distinct (hours, tz); id 0 (`ANY_TIME`) is any time, for unscoped entries and
scopes without hours.

How a ts is read in its zone (contract: "read in tz"): per distinct zone, the UTC offset in
force from each of its transitions, 1970 to 2100 (`zone_offsets`); a kernel finds the offset
by binary search, adds it, and takes the local minute of the week (Monday 00:00 is 0). A
window is [start, start + length) in minutes of the week, taken modulo one week, so a window
that spans midnight (or Sunday night into Monday) belongs to the day it starts on. Wall-clock
reading gives the tz database's answers at daylight-saving changes: a window inside the hour
skipped in spring matches nothing that day, one in the hour repeated in autumn matches both.
Times after 2100 are read with the offset in force at its start (`ZONE_TABLE_END_MS`).

Plain-Python twin: `in_time_py` in `tables/scope_reference.py` (datetime and zoneinfo).
numba's on-disk cache notices edits to a kernel's own file only: after editing this one,
delete `tables/__pycache__/*.nbi`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
from numba import njit

from schemas.scope import DEFAULT_TZ, MINUTES_PER_DAY, HoursWindow, Scope

MS_PER_MINUTE = 60_000
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
# 1970-01-01, day 0 of epoch time, was a Thursday (Monday is day 0 of the week here).
EPOCH_WEEKDAY = 3
ZONE_TABLE_END_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
ANY_TIME = 0
# Offsets are sampled a week apart and each change is narrowed to its second: zones change
# offset months apart (checked for all 599 zones of the tz database, 1970-2100, against a
# sampling every 6 hours: the same transitions), and a finer step costs as many times more.
_SAMPLE_STEP_S = 7 * 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ZoneOffsets(NamedTuple):
    """A zone's UTC offsets: `offsets_ms[i]` is in force from `transitions_ms[i]` (the first
    transition is 0, the epoch) to the next one."""

    transitions_ms: np.ndarray
    offsets_ms: np.ndarray


def _offset_s(zone: ZoneInfo, t_s: int) -> int:
    return (_EPOCH + timedelta(seconds=t_s)).astimezone(zone).utcoffset() // timedelta(seconds=1)


@cache
def zone_offsets(tz: str) -> ZoneOffsets:
    """Return the offsets of zone tz from 1970 to 2100 (about 30 ms a zone; cached)."""
    zone = ZoneInfo(tz)
    end_s = ZONE_TABLE_END_MS // 1000
    transitions, offsets = [0], [_offset_s(zone, 0)]
    before_s = 0
    for t_s in [*range(_SAMPLE_STEP_S, end_s, _SAMPLE_STEP_S), end_s]:
        offset = _offset_s(zone, t_s)
        if offset != offsets[-1]:
            lo, hi = before_s, t_s  # offset(lo) is the old one, offset(hi) the new
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if _offset_s(zone, mid) == offsets[-1] else (lo, mid)
            transitions.append(hi)
            offsets.append(offset)
        before_s = t_s
    return ZoneOffsets(np.array(transitions, np.int64) * 1000,
                       np.array(offsets, np.int64) * 1000)


class CompiledHours(NamedTuple):
    """The arrays `in_time` reads: per scope id its zone and its windows (CSR), per zone its
    offsets (CSR). Windows are minutes of the week: [start, start + length) mod one week."""

    scope_zone: np.ndarray  # int32, per scope id
    window_ptr: np.ndarray  # int32, scope id s has windows window_ptr[s]:window_ptr[s + 1]
    window_start: np.ndarray  # int32, minute of the week the window opens
    window_len: np.ndarray  # int32, minutes
    zone_ptr: np.ndarray  # int32, zone z has transitions zone_ptr[z]:zone_ptr[z + 1]
    transitions_ms: np.ndarray  # int64
    offsets_ms: np.ndarray  # int64


def week_windows(hours: tuple[HoursWindow, ...]) -> list[tuple[int, int]]:
    """Return hours as (start, length) in minutes of the week, one per day a window starts
    on; no hours is the whole week (any time)."""
    if not hours:
        return [(0, MINUTES_PER_WEEK)]
    return [(day * MINUTES_PER_DAY + w.from_min, w.length_min)
            for w in hours for day in range(7) if w.days >> day & 1]


class HoursTable:
    """The hours of the distinct scopes a store holds, each compiled once, by id.

    Ids are never reused or forgotten: a store has few distinct (hours, tz) pairs, however
    many entries share them.
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[tuple[HoursWindow, ...], str], int] = {}
        self._zones: dict[str, int] = {}
        self._scope_zone: list[int] = []
        self._windows: list[list[tuple[int, int]]] = []
        self._compiled: CompiledHours | None = None
        self.add(None)  # ANY_TIME

    def add(self, scope: Scope | None) -> int:
        """Return the id of scope's hours (ANY_TIME when it has none), adding them if new."""
        key = ((), DEFAULT_TZ) if scope is None or not scope.hours else (scope.hours, scope.tz)
        scope_id = self._ids.get(key)
        if scope_id is None:
            scope_id = self._ids[key] = len(self._windows)
            self._scope_zone.append(self._zones.setdefault(key[1], len(self._zones)))
            self._windows.append(week_windows(key[0]))
            self._compiled = None
        return scope_id

    def compiled(self) -> CompiledHours:
        """Return the arrays of every scope added so far (rebuilt after an add of new hours)."""
        if self._compiled is None:
            windows = [w for ws in self._windows for w in ws]
            zones = [zone_offsets(tz) for tz in self._zones]  # dicts keep insertion order
            self._compiled = CompiledHours(
                np.array(self._scope_zone, np.int32),
                np.cumsum([0] + [len(ws) for ws in self._windows], dtype=np.int32),
                np.array([start for start, _ in windows], np.int32),
                np.array([length for _, length in windows], np.int32),
                np.cumsum([0] + [len(z.transitions_ms) for z in zones], dtype=np.int32),
                np.concatenate([z.transitions_ms for z in zones]),
                np.concatenate([z.offsets_ms for z in zones]),
            )
        return self._compiled


@njit(nogil=True, cache=True)
def _in_time(scope_ids, ts_ms, scope_zone, window_ptr, window_start, window_len, zone_ptr,
             transitions_ms, offsets_ms, out):
    for i in range(scope_ids.shape[0]):
        s = scope_ids[i]
        ts = ts_ms[i]
        z = scope_zone[s]
        lo = zone_ptr[z]  # transitions_ms[lo] is 0, at or before every ts
        hi = zone_ptr[z + 1]
        while hi - lo > 1:  # the last transition at or before ts
            mid = (lo + hi) // 2
            if transitions_ms[mid] <= ts:
                lo = mid
            else:
                hi = mid
        minute = (ts + offsets_ms[lo]) // MS_PER_MINUTE
        day = (minute // MINUTES_PER_DAY + EPOCH_WEEKDAY) % 7
        of_week = day * MINUTES_PER_DAY + minute % MINUTES_PER_DAY
        inside = False
        for w in range(window_ptr[s], window_ptr[s + 1]):
            if (of_week - window_start[w]) % MINUTES_PER_WEEK < window_len[w]:
                inside = True
                break
        out[i] = inside


def in_time(hours: CompiledHours, scope_ids: np.ndarray, ts_ms: np.ndarray) -> np.ndarray:
    """Return, per hit, whether ts_ms[i] (epoch ms, at least 0) falls in the hours of scope
    id scope_ids[i] (ids from the HoursTable that compiled `hours`)."""
    scope_ids = np.ascontiguousarray(scope_ids, np.int32)
    ts_ms = np.ascontiguousarray(ts_ms, np.int64)
    if scope_ids.shape != ts_ms.shape or scope_ids.ndim != 1:
        raise ValueError(f"scope_ids {scope_ids.shape} and ts_ms {ts_ms.shape}: "
                         "one-dimensional, of one length")
    n_scopes = len(hours.scope_zone)
    if len(scope_ids) and not (scope_ids.min() >= 0 and scope_ids.max() < n_scopes):
        raise ValueError(f"a scope id outside [0, {n_scopes})")
    out = np.empty(len(scope_ids), np.bool_)
    _in_time(scope_ids, ts_ms, *hours, out)
    return out


def warm_up() -> None:
    """Compile `_in_time` (or load it from numba's on-disk cache) for the types the matcher
    passes, so that a worker's first scoped hit does not stall on it."""
    table = HoursTable()
    in_time(table.compiled(), np.zeros(1, np.int32), np.zeros(1, np.int64))
