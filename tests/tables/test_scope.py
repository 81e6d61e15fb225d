"""The vectorised time-scope check against its plain-Python twin, and by hand at the edges."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.scope import Scope, decode_scope
from tables.scope import (
    ANY_TIME,
    ZONE_TABLE_END_MS,
    HoursTable,
    _in_time,
    in_time,
    zone_offsets,
)
from tables.scope_reference import in_place_py, in_scope_py, in_time_py
from tests.schemas.fixtures import ZONES, scopes

# 9999-12-30: local times (up to a day ahead) stay within datetime, as the reference needs.
MAX_REFERENCE_MS = 253_402_214_400_000
HOUR_MS = 3_600_000


def utc(text: str) -> int:
    at = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def scope(days: str, start: str, end: str, tz: str) -> Scope:
    result = decode_scope({"hours": [{"days": days, "from": start, "to": end}], "tz": tz})
    assert result is not None
    return result


def check(scope_: Scope | None, ts: list[int]) -> list[bool]:
    table = HoursTable()
    scope_id = table.add(scope_)
    got = in_time(table.compiled(), np.full(len(ts), scope_id), np.array(ts)).tolist()
    assert got == [in_time_py(scope_, t) for t in ts]
    return got


@pytest.mark.parametrize(
    ("window", "at", "inside"),
    [
        # Berlin springs forward on Sunday 2026-03-29 at 01:00 UTC: 02:00 local never comes.
        (("sun", "02:00", "03:00", "Europe/Berlin"), "2026-03-29T00:59:59.999", False),
        (("sun", "02:00", "03:00", "Europe/Berlin"), "2026-03-29T01:00:00", False),
        (("sun", "02:00", "03:00", "Europe/Berlin"), "2026-04-05T00:30:00", True),
        # ... and falls back on 2026-10-25 at 01:00 UTC: 02:30 local comes twice.
        (("sun", "02:00", "03:00", "Europe/Berlin"), "2026-10-25T00:30:00", True),
        (("sun", "02:00", "03:00", "Europe/Berlin"), "2026-10-25T01:30:00", True),
        (("sun", "02:00", "03:00", "Europe/Berlin"), "2026-10-25T02:00:00", False),
        # Saturday night into Sunday, across New York's change to summer time (03-08 07:00Z).
        (("sat", "22:00", "06:00", "America/New_York"), "2026-03-08T02:59:59.999", False),
        (("sat", "22:00", "06:00", "America/New_York"), "2026-03-08T03:00:00", True),
        (("sat", "22:00", "06:00", "America/New_York"), "2026-03-08T09:59:59.999", True),
        (("sat", "22:00", "06:00", "America/New_York"), "2026-03-08T10:00:00", False),
        (("sat", "22:00", "06:00", "America/New_York"), "2026-03-09T03:00:00", False),  # sun
        # Sunday night into Monday: the window wraps around the end of the week.
        (("sun", "23:00", "01:00", "UTC"), "2026-03-08T23:00:00", True),
        (("sun", "23:00", "01:00", "UTC"), "2026-03-09T00:59:59.999", True),
        (("sun", "23:00", "01:00", "UTC"), "2026-03-09T01:00:00", False),
        (("sun", "23:00", "01:00", "UTC"), "2026-03-07T23:30:00", False),  # a saturday
        # Shanghai (UTC+8, no daylight saving): Monday 07:00 local is Sunday 23:00 UTC.
        (("mon-fri", "07:00", "19:00", "Asia/Shanghai"), "2026-03-08T22:59:59.999", False),
        (("mon-fri", "07:00", "19:00", "Asia/Shanghai"), "2026-03-08T23:00:00", True),
        (("mon-fri", "07:00", "19:00", "Asia/Shanghai"), "2026-03-13T10:59:59.999", True),
        (("mon-fri", "07:00", "19:00", "Asia/Shanghai"), "2026-03-13T11:00:00", False),
        # A whole day, to 24:00.
        (("sat", "00:00", "24:00", "UTC"), "2026-03-07T23:59:59.999", True),
        (("sat", "00:00", "24:00", "UTC"), "2026-03-08T00:00:00", False),
        # New York at the epoch: local time is before 1970 (floor, not truncation).
        (("wed", "19:00", "20:00", "America/New_York"), "1970-01-01T00:30:00", True),
    ],
)
def test_windows_at_their_edges(window: tuple[str, str, str, str], at: str,
                                inside: bool) -> None:
    assert check(scope(*window), [utc(at)]) == [inside]


def test_no_hours_is_any_time() -> None:
    table = HoursTable()
    places_only = decode_scope({"locations": ["C-1"], "tz": "Asia/Shanghai"})
    assert table.add(None) == table.add(places_only) == ANY_TIME
    ts = np.array([0, utc("2026-03-08T03:00:00"), 2**53])
    assert in_time(table.compiled(), np.zeros(3, np.int32), ts).all()


def test_scopes_are_compiled_once_each() -> None:
    table = HoursTable()
    a = scope("mon-fri", "07:00", "19:00", "Asia/Shanghai")
    b = scope("mon-fri", "07:00", "19:00", "Europe/Berlin")
    ids = [table.add(a), table.add(b), table.add(scope("mon-fri", "07:00", "19:00",
                                                       "Asia/Shanghai"))]
    assert ids == [1, 2, 1]
    hours = table.compiled()
    assert table.compiled() is hours  # nothing new: not rebuilt
    assert (len(hours.scope_zone), len(hours.zone_ptr) - 1) == (3, 3)  # with ANY_TIME's UTC


def test_bad_arguments_are_refused() -> None:
    hours = HoursTable().compiled()
    with pytest.raises(ValueError, match="scope id"):
        in_time(hours, np.array([1]), np.array([0]))
    with pytest.raises(ValueError, match="one length"):
        in_time(hours, np.array([0, 0]), np.array([0]))


def test_offsets_cover_the_zone_table() -> None:
    berlin = zone_offsets("Europe/Berlin")
    assert berlin.transitions_ms[0] == 0 and (np.diff(berlin.transitions_ms) > 0).all()
    assert set(berlin.offsets_ms.tolist()) == {HOUR_MS, 2 * HOUR_MS}
    assert zone_offsets("Asia/Shanghai").offsets_ms[-1] == 8 * HOUR_MS


def near_transitions(tz: str) -> st.SearchStrategy[int]:
    """Timestamps within two days of one of the zone's offset changes."""
    transitions = zone_offsets(tz).transitions_ms.tolist()
    return st.builds(lambda t, d: max(0, t + d), st.sampled_from(transitions),
                     st.integers(-2 * 24 * HOUR_MS, 2 * 24 * HOUR_MS))


timestamps = st.one_of(
    st.integers(0, MAX_REFERENCE_MS),
    st.integers(utc("2020-01-01T00:00:00"), utc("2030-01-01T00:00:00")),
    st.integers(ZONE_TABLE_END_MS - 2 * 24 * HOUR_MS, ZONE_TABLE_END_MS + 2 * 24 * HOUR_MS),
    st.sampled_from(ZONES).flatmap(near_transitions),
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.tuples(st.none() | scopes(places=False), st.lists(timestamps, max_size=20)),
                min_size=1, max_size=5))
def test_kernel_matches_reference(cases: list[tuple[Scope | None, list[int]]]) -> None:
    table = HoursTable()
    ids = [table.add(s) for s, _ in cases]
    scope_ids = np.array([i for i, (_, ts) in zip(ids, cases, strict=True) for _ in ts], np.int32)
    ts_ms = np.array([t for _, ts in cases for t in ts], np.int64)
    got = in_time(table.compiled(), scope_ids, ts_ms).tolist()
    assert got == [in_time_py(s, t) for s, ts in cases for t in ts]


def test_kernel_is_compiled() -> None:
    """Parity above compares the kernel, not Python with Python, unless the JIT is off."""
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        pytest.skip("NUMBA_DISABLE_JIT=1: the kernel runs as Python")
    in_time(HoursTable().compiled(), np.zeros(1, np.int32), np.zeros(1, np.int64))
    assert _in_time.signatures


def test_place_reference() -> None:
    s = decode_scope({"locations": ["C-0042"], "areas": ["old-town"]})
    assert in_place_py(s, "C-0042", ())
    assert in_place_py(s, "C-0043", ("ring-road", "old-town"))
    assert not in_place_py(s, "C-0043", ("ring-road",))
    assert in_place_py(None, "C-0043", ())
    hours_only = scope("mon", "07:00", "08:00", "UTC")
    assert in_place_py(hours_only, "anywhere", ())
    assert not in_scope_py(hours_only, "anywhere", (), utc("2026-03-09T08:00:00"))
    assert in_scope_py(hours_only, "anywhere", (), utc("2026-03-09T07:59:00"))
