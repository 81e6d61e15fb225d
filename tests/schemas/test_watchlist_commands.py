"""Many watchlist commands decoded in one call give, command for command, what
`decode_watchlist_command` gives (the reference), whatever decoder sits behind the call."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.json import dumps
from schemas.watchlist import decode_watchlist_command
from schemas.watchlist_commands import decode_watchlist_commands

REFERENCE_MS = 1_795_000_000_000
DAY_MS = 86_400_000
TTL_DAYS = 90
DROP = object()

# Each field: good values first, then values some rule refuses; DROP leaves the field out.
FIELDS: dict[str, list[object]] = {
    "op": ["upsert", "delete", "insert", DROP],
    "entry_id": ["W-1", "W-2", "", "W/1", 17, DROP],
    "list": ["stolen-vehicles", "wanted", "Bad List", DROP],
    "subject_type": ["plate", "device", "document", "vehicle", DROP],
    "id_type": ["mac", "imsi", "usb", DROP],
    "doc_type": ["passport", "national_id", DROP],
    "key": ["鲁K12345", "a4:5e:60:d1:22:9f", "371002199001011237", "371002199001011238", " - ",
            12345, DROP],
    "match": ["exact", "ocr-tolerant", "fuzzy", DROP],
    "priority": [1, 3, 0, True, "2", DROP],
    "legal_basis": ["case 17", " ", "x" * 501, DROP],
    "requested_by": ["unit-17", "", DROP],
    "reason": ["recovered", "", DROP],
    "expires_at": [REFERENCE_MS + DAY_MS, REFERENCE_MS, REFERENCE_MS + 91 * DAY_MS,
                   "2026-11-19T19:06:40+08:00", "next month", DROP],
}

KEYS = [{"subject_type": "plate", "key": "鲁K12345", "match": "ocr-tolerant"},
        {"subject_type": "device", "id_type": "mac", "key": "a4:5e:60:d1:22:9f"},
        {"subject_type": "document", "doc_type": "national_id", "key": "371002199001011237"}]


@st.composite
def records(draw: st.DrawFn) -> tuple[bytes, bytes | None, int]:
    """A watchlist record: its value (mostly a command, some not JSON or not an object),
    its message key and the timestamp it is judged against."""
    # Mostly the first, good value of each field, so that some commands are accepted.
    command = {name: draw(st.sampled_from(values if draw(st.integers(0, 19)) == 0
                                          else values[:1]))
               for name, values in FIELDS.items()}
    if draw(st.booleans()):  # a plate, device or document key that fits its subject type
        command.update(draw(st.sampled_from(KEYS)))
    value = dumps({k: v for k, v in command.items() if v is not DROP})
    value = draw(st.sampled_from([value] * 8 + [b"{not json", b"[]"]))
    entry_id = command["entry_id"]
    key = draw(st.sampled_from([None, b"W-other",
                                str(entry_id).encode() if entry_id is not DROP else None]))
    return value, key, draw(st.sampled_from([REFERENCE_MS, REFERENCE_MS - DAY_MS]))


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(records(), max_size=30))
def test_each_verdict_is_decode_watchlist_commands(batch: list) -> None:
    values, keys, timestamps = ([r[i] for r in batch] for i in range(3))
    assert decode_watchlist_commands(values, keys, timestamps, TTL_DAYS) == [
        decode_watchlist_command(v, k, t, TTL_DAYS) for v, k, t in batch]
