"""Timestamps in: epoch milliseconds or RFC 3339 with offset. Out: always epoch milliseconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Beyond 2**53 a JSON number stops being exact in most consumers' doubles.
MAX_TS_MS = 2**53

# fromisoformat alone accepts far more than RFC 3339 (no offset, week dates, basic format),
# so the shape is pinned first. ASCII digits only: \d would admit other scripts' digits.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_ts(value: object) -> int | None:
    """Return value as epoch milliseconds in [0, 2**53], or None when it is not a timestamp.

    Accepts an integer (epoch ms; bool and float are refused) or an RFC 3339 string with
    `Z` or a `±hh:mm` offset; a string without offset is ambiguous and refused.
    Sub-millisecond digits are truncated.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= MAX_TS_MS else None
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return None
    try:
        # Python 3.11 fromisoformat wants upper-case `T`/`Z`; RFC 3339 allows either case.
        parsed = datetime.fromisoformat(value.upper())
    except (ValueError, OverflowError):
        return None
    delta = parsed - _EPOCH
    # Integer arithmetic: going through float seconds would round some ms values wrong.
    ms = delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
    return ms if 0 <= ms <= MAX_TS_MS else None
