"""parse_ts: epoch ms or RFC 3339 with offset in, epoch ms out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.timestamps import MAX_TS_MS, parse_ts

SETTINGS = settings(max_examples=200, deadline=None, database=None)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31), timezones=offsets
)


@SETTINGS
@given(st.integers(0, MAX_TS_MS))
def test_epoch_ms_round_trips(ms: int) -> None:
    assert parse_ts(ms) == ms


@SETTINGS
@given(instants, st.sampled_from(["milliseconds", "microseconds", "seconds"]))
def test_rfc3339_with_offset_gives_the_same_instant(moment: datetime, timespec: str) -> None:
    text = moment.isoformat(timespec=timespec)
    # Expected value computed by timedelta floor division, not by the code's arithmetic.
    expected = (moment - EPOCH) // timedelta(milliseconds=1)
    if timespec == "seconds":
        expected = (moment.replace(microsecond=0) - EPOCH) // timedelta(milliseconds=1)
    assert parse_ts(text) == expected
    if moment.utcoffset() == timedelta(0):
        assert parse_ts(text.replace("+00:00", "Z")) == expected


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-01-01T00:00:00Z", 1767225600000),
        ("2026-01-01T08:00:00+08:00", 1767225600000),
        ("2025-12-31T19:00:00-05:00", 1767225600000),
        ("2026-01-01t00:00:00.5z", 1767225600500),
        ("2026-01-01 00:00:00.123456789Z", 1767225600123),
        ("1970-01-01T00:00:00Z", 0),
    ],
)
def test_rfc3339_examples(text: str, ms: int) -> None:
    assert parse_ts(text) == ms


@pytest.mark.parametrize(
    "value",
    [
        -1,
        MAX_TS_MS + 1,
        True,
        False,
        1795000000123.0,
        None,
        "1795000000123",
        "2026-01-01T00:00:00",  # no offset: ambiguous
        "2026-01-01",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-01-01T00:00:60Z",  # leap second: not representable
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+0800",
        "2026-01-01T00:00:00.Z",
        "２026-01-01T00:00:00Z",  # full-width digit
        "2026-01-01T00:00:00Z ",
        "1970-01-01T00:00:00+01:00",  # before the epoch
        "20260101T000000Z",
        [1795000000123],
    ],
)
def test_invalid_timestamps(value: object) -> None:
    assert parse_ts(value) is None
