"""Plain-Python twin of the scope check: is a record in its entry's places and hours?

Written the obvious way, with datetime and zoneinfo and the contract's words, independently
of `tables/scope.py` (minutes of the week, offset tables): the property tests hold
`in_time` to exactly what `in_time_py` returns. Valid for ts up to 9999-12-30,
a day before the last datetime.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.scope import Scope
from tables.scope import ZONE_TABLE_END_MS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def local_time(ts_ms: int, tz: str) -> datetime:
    """Return the wall-clock time (naive) of epoch ms ts_ms in zone tz; after 2100 with the
    offset in force at its start, as `tables/scope.py` documents."""
    at = _EPOCH + timedelta(milliseconds=min(ts_ms, ZONE_TABLE_END_MS))
    offset = at.astimezone(ZoneInfo(tz)).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return (_EPOCH + timedelta(milliseconds=ts_ms) + offset).replace(tzinfo=None)


def in_time_py(scope: Scope | None, ts_ms: int) -> bool:
    """Tell whether ts_ms, read in scope's zone, falls in one of its hours (no hours: yes)."""
    if scope is None or not scope.hours:
        return True
    local = local_time(ts_ms, scope.tz)
    weekday, minute = local.weekday(), local.hour * 60 + local.minute
    for window in scope.hours:
        for day in range(7):
            if not window.days >> day & 1:
                continue
            if window.from_min < window.to_min:  # within one day
                if weekday == day and window.from_min <= minute < window.to_min:
                    return True
            elif (weekday == day and minute >= window.from_min) or (
                    weekday == (day + 1) % 7 and minute < window.to_min):
                return True  # spans midnight: starts on `day`, ends the next morning
    return False


def in_place_py(scope: Scope | None, location_id: str, location_areas: Collection[str]) -> bool:
    """Tell whether a record at location_id, which belongs to location_areas (per
    `vigil.locations` when the record is matched), is in scope's places."""
    if scope is None or not scope.limits_place:
        return True
    return location_id in scope.locations or any(a in scope.areas for a in location_areas)


def in_scope_py(scope: Scope | None, location_id: str, location_areas: Collection[str],
                ts_ms: int) -> bool:
    """Tell whether a record matching an entry's key gives a hit: in place and in time."""
    return in_place_py(scope, location_id, location_areas) and in_time_py(scope, ts_ms)
