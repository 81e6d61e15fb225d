"""Watchlist commands: every rule with its reason, normalised keys, and round trips."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.json import dumps
from schemas.rejection import Rejected
from schemas.watchlist import (
    WatchlistDelete,
    WatchlistEntry,
    decode_watchlist_command,
    encode_watchlist_command,
)
from tests.schemas.fixtures import scopes

SETTINGS = settings(max_examples=200, deadline=None, database=None)
DROP = object()
REFERENCE_MS = 1795000000000
DAY_MS = 86_400_000
TTL_DAYS = 90


def upsert(**changes: object) -> dict[str, object]:
    command: dict[str, object] = {
        "op": "upsert",
        "entry_id": "W-2026-000017",
        "list": "stolen-vehicles",
        "subject_type": "plate",
        "key": "鲁K12345",
        "match": "ocr-tolerant",
        "priority": 2,
        "legal_basis": "case 2026-0417, theft report",
        "requested_by": "unit-17",
        "expires_at": 1797592000000,
    }
    command.update(changes)
    return {k: v for k, v in command.items() if v is not DROP}


def delete(**changes: object) -> dict[str, object]:
    command: dict[str, object] = {
        "op": "delete",
        "entry_id": "W-2026-000017",
        "requested_by": "unit-17",
        "reason": "vehicle recovered",
    }
    command.update(changes)
    return {k: v for k, v in command.items() if v is not DROP}


def decode(
    command: object, key: bytes | None = b"W-2026-000017", reference_ms: int = REFERENCE_MS
) -> WatchlistEntry | WatchlistDelete | Rejected:
    value = command if isinstance(command, bytes) else dumps(command)
    return decode_watchlist_command(value, key, reference_ms, TTL_DAYS)


def test_contract_upsert_decodes() -> None:
    entry = decode(upsert())
    assert entry == WatchlistEntry(
        entry_id="W-2026-000017",
        list="stolen-vehicles",
        subject_type="plate",
        kind="",
        key="鲁K12345",
        match="ocr-tolerant",
        priority=2,
        legal_basis="case 2026-0417, theft report",
        requested_by="unit-17",
        expires_at=1797592000000,
    )
    assert entry.match_key == ("plate", "", "鲁K12345")


def test_contract_delete_decodes() -> None:
    assert decode(delete()) == WatchlistDelete("W-2026-000017", "unit-17", "vehicle recovered")
    assert decode(delete(), key=None) == decode(delete())


@pytest.mark.parametrize(
    ("changes", "match_key", "match"),
    [
        (
            {"subject_type": "device", "id_type": "mac", "key": "A4-5E-60-D1-22-9F"},
            ("device", "mac", "a45e60d1229f"),
            "exact",
        ),
        (
            {"subject_type": "document", "doc_type": "passport", "key": "e 1234 5678"},
            ("document", "passport", "E12345678"),
            "exact",
        ),
        (
            {"subject_type": "document", "doc_type": "national_id", "key": "371002199001011237"},
            ("document", "national_id", "371002199001011237"),
            "exact",
        ),
        ({"key": "鲁K·12345", "match": DROP}, ("plate", "", "鲁K12345"), "exact"),
        ({"key": "鲁K·12345", "match": None}, ("plate", "", "鲁K12345"), "exact"),
    ],
)
def test_keys_are_normalised_like_records(
    changes: dict[str, object], match_key: tuple[str, str, str], match: str
) -> None:
    changes = {"match": "exact", **changes}
    entry = decode(upsert(**changes))
    assert isinstance(entry, WatchlistEntry)
    assert (entry.match_key, entry.match) == (match_key, match)


DEVICE = {"subject_type": "device", "id_type": "mac", "key": "a45e60d1229f", "match": "exact"}
DOCUMENT = {"subject_type": "document", "doc_type": "national_id", "match": "exact"}
LATEST = REFERENCE_MS + TTL_DAYS * DAY_MS


@pytest.mark.parametrize(
    ("command", "key", "reason"),
    [
        (b"not json", b"W-2026-000017", "bad_json"),
        (None, b"W-2026-000017", "bad_json"),  # a tombstone
        (b"[]", b"W-2026-000017", "not_a_record"),
        (upsert(op=DROP), b"W-2026-000017", "missing_field"),
        (upsert(op="insert"), b"W-2026-000017", "bad_op"),
        (upsert(op="UPSERT"), b"W-2026-000017", "bad_op"),
        (upsert(entry_id=DROP), None, "missing_field"),
        (upsert(entry_id=""), b"", "bad_entry_id"),
        (upsert(entry_id="W" * 65), None, "bad_entry_id"),
        (upsert(entry_id="W/1"), b"W/1", "bad_entry_id"),
        (delete(entry_id="W-1\n"), b"W-1\n", "bad_entry_id"),
        (upsert(entry_id=17), b"17", "bad_entry_id"),
        (upsert(), b"W-2026-000018", "key_mismatch"),
        (upsert(), b"\xff", "key_mismatch"),
        (delete(), b"W-other", "key_mismatch"),
        (upsert(list=DROP), b"W-2026-000017", "missing_field"),
        (upsert(list="Stolen-Vehicles"), b"W-2026-000017", "bad_list"),
        (upsert(list="-stolen"), b"W-2026-000017", "bad_list"),
        (upsert(list="stolen vehicles"), b"W-2026-000017", "bad_list"),
        (upsert(list="s" * 65), b"W-2026-000017", "bad_list"),
        (upsert(list="stolen\n"), b"W-2026-000017", "bad_list"),
        (upsert(list=["stolen"]), b"W-2026-000017", "bad_list"),
        (upsert(subject_type=DROP), b"W-2026-000017", "missing_field"),
        (upsert(subject_type="vehicle"), b"W-2026-000017", "bad_subject_type"),
        (upsert(**{**DEVICE, "id_type": DROP}), b"W-2026-000017", "missing_field"),
        (upsert(**{**DEVICE, "id_type": "usb"}), b"W-2026-000017", "bad_id_type"),
        (upsert(**{**DOCUMENT, "doc_type": DROP}), b"W-2026-000017", "missing_field"),
        (upsert(**{**DOCUMENT, "doc_type": "visa"}), b"W-2026-000017", "bad_doc_type"),
        (upsert(key=DROP), b"W-2026-000017", "missing_field"),
        (upsert(key=12345), b"W-2026-000017", "bad_key"),
        (upsert(key=" - "), b"W-2026-000017", "bad_key"),
        (upsert(**{**DEVICE, "key": "a45e60d1229"}), b"W-2026-000017", "bad_key"),
        (upsert(**{**DOCUMENT, "key": " "}), b"W-2026-000017", "bad_key"),
        (upsert(**{**DOCUMENT, "key": "371002199001011238"}), b"W-2026-000017", "bad_check_digit"),
        (upsert(match="fuzzy"), b"W-2026-000017", "bad_match"),
        (upsert(**{**DEVICE, "match": "ocr-tolerant"}), b"W-2026-000017", "bad_match"),
        (upsert(priority=DROP), b"W-2026-000017", "missing_field"),
        (upsert(priority=0), b"W-2026-000017", "bad_priority"),
        (upsert(priority=4), b"W-2026-000017", "bad_priority"),
        (upsert(priority=True), b"W-2026-000017", "bad_priority"),
        (upsert(priority=2.0), b"W-2026-000017", "bad_priority"),
        (upsert(priority="2"), b"W-2026-000017", "bad_priority"),
        (upsert(legal_basis=DROP), b"W-2026-000017", "no_legal_basis"),
        (upsert(legal_basis=" \t"), b"W-2026-000017", "no_legal_basis"),
        (upsert(legal_basis="x" * 501), b"W-2026-000017", "no_legal_basis"),
        (upsert(legal_basis=1), b"W-2026-000017", "no_legal_basis"),
        (upsert(requested_by=DROP), b"W-2026-000017", "no_requester"),
        (upsert(requested_by=""), b"W-2026-000017", "no_requester"),
        (upsert(requested_by="u" * 129), b"W-2026-000017", "no_requester"),
        (upsert(expires_at=DROP), b"W-2026-000017", "no_expiry"),
        (upsert(expires_at=None), b"W-2026-000017", "no_expiry"),
        (upsert(expires_at="next month"), b"W-2026-000017", "bad_ts"),
        (upsert(expires_at=1797592000000.0), b"W-2026-000017", "bad_ts"),
        (upsert(expires_at=REFERENCE_MS), b"W-2026-000017", "expired"),
        (upsert(expires_at=REFERENCE_MS - 1), b"W-2026-000017", "expired"),
        (upsert(expires_at=LATEST + 1), b"W-2026-000017", "ttl_too_long"),
        (delete(requested_by=DROP), b"W-2026-000017", "no_requester"),
        (delete(requested_by="   "), b"W-2026-000017", "no_requester"),
        (delete(reason=DROP), b"W-2026-000017", "no_reason"),
        (delete(reason=""), b"W-2026-000017", "no_reason"),
        (delete(reason="r" * 501), b"W-2026-000017", "no_reason"),
    ],
)
def test_each_rule_has_its_reason(command: object, key: bytes | None, reason: str) -> None:
    value = command if command is None or isinstance(command, bytes) else dumps(command)
    result = decode_watchlist_command(value, key, REFERENCE_MS, TTL_DAYS)
    assert isinstance(result, Rejected)
    assert (result.reason, result.index) == (reason, None)
    assert "\n" not in result.detail


def test_expiry_bounds_are_inclusive_of_the_ttl() -> None:
    assert isinstance(decode(upsert(expires_at=LATEST)), WatchlistEntry)
    assert isinstance(decode(upsert(expires_at=REFERENCE_MS + 1)), WatchlistEntry)
    # REFERENCE_MS is 2026-11-18T11:06:40Z; RFC 3339 with an offset is accepted too.
    entry = decode(upsert(expires_at="2026-11-19T19:06:40+08:00"))
    assert isinstance(entry, WatchlistEntry)
    assert entry.expires_at == REFERENCE_MS + DAY_MS


def test_commands_are_judged_against_the_reference_not_the_clock() -> None:
    # Written in 2001 with a 30-day expiry: long past by the wall clock, valid when replayed.
    written_ms = 1_000_000_000_000
    command = upsert(expires_at=written_ms + 30 * DAY_MS)
    assert isinstance(decode(command, reference_ms=written_ms), WatchlistEntry)
    # The same command, judged as of a month later, has expired.
    late = decode(command, reference_ms=written_ms + 31 * DAY_MS)
    assert isinstance(late, Rejected)
    assert late.reason == "expired"


list_names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,63}", fullmatch=True)
non_blank = st.text(min_size=1).filter(lambda s: bool(s.strip()))
# Entry ids by the identifier rule (schemas/identifiers.py; tests/schemas/test_identifiers.py).
entry_ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"),
                           blacklist_characters="/%"),
    min_size=1, max_size=64).filter(lambda s: s == s.strip())
plate_keys = st.text(alphabet="鲁京粤ABKLMOQSZ0125689", min_size=1, max_size=16)
device_keys = {
    "mac": st.text(alphabet="0123456789abcdef", min_size=12, max_size=12),
    "imsi": st.text(alphabet="0123456789", min_size=15, max_size=15),
    "imei": st.text(alphabet="0123456789", min_size=15, max_size=15),
    "etag": st.text(alphabet="0123456789ABCDEFXYZ", min_size=1, max_size=32),
}


@st.composite
def entries(draw: st.DrawFn, national_id: Callable[[str], str]) -> WatchlistEntry:
    subject_type = draw(st.sampled_from(["device", "plate", "document"]))
    match = "exact"
    if subject_type == "device":
        kind = draw(st.sampled_from(sorted(device_keys)))
        key = draw(device_keys[kind])
    elif subject_type == "plate":
        kind, key = "", draw(plate_keys)
        match = draw(st.sampled_from(["exact", "ocr-tolerant"]))
    else:
        kind = draw(st.sampled_from(["national_id", "passport", "other"]))
        digits = draw(st.text(alphabet="0123456789", min_size=17, max_size=17))
        key = national_id(digits) if kind == "national_id" else "E" + digits
    return WatchlistEntry(
        entry_id=draw(entry_ids),
        list=draw(list_names),
        subject_type=subject_type,
        kind=kind,
        key=key,
        match=match,
        priority=draw(st.integers(1, 3)),
        legal_basis=draw(non_blank.filter(lambda s: len(s) <= 500)),
        requested_by=draw(non_blank.filter(lambda s: len(s) <= 128)),
        expires_at=draw(st.integers(REFERENCE_MS + 1, LATEST)),
        scope=draw(st.none() | scopes()),
    )


@SETTINGS
@given(data=st.data())
def test_upsert_round_trips(national_id: Callable[[str], str], data: st.DataObject) -> None:
    entry = data.draw(entries(national_id))
    value = encode_watchlist_command(entry)
    assert decode(value, key=entry.entry_id.encode()) == entry


@SETTINGS
@given(
    entry_ids,
    non_blank.filter(lambda s: len(s) <= 128),
    non_blank.filter(lambda s: len(s) <= 500),
)
def test_delete_round_trips(entry_id: str, requested_by: str, reason: str) -> None:
    command = WatchlistDelete(entry_id, requested_by, reason)
    assert decode(encode_watchlist_command(command), key=entry_id.encode()) == command


def test_quick_checks_defer_to_the_rules_at_their_edges() -> None:
    """The upsert decoder's quick per-field checks accept only what the rules accept as is;
    anything else goes to the rule (agents decode 10^5 commands a second)."""
    padded = decode(upsert(legal_basis=" case 1", requested_by="\tunit-17"))
    assert isinstance(padded, WatchlistEntry)
    assert (padded.legal_basis, padded.requested_by) == (" case 1", "\tunit-17")
    assert decode(upsert(legal_basis=" \t")).reason == "no_legal_basis"
    assert decode(upsert(priority=True)).reason == "bad_priority"
    assert decode(upsert(expires_at="2026-12-31T00:00:00Z")).expires_at == 1798675200000
    assert decode(upsert(expires_at=2**53 + 1)).reason == "bad_ts"
    # A list name found valid once is remembered; a bad one never is.
    assert isinstance(decode(upsert(list="stolen-vehicles")), WatchlistEntry)
    for _ in range(2):
        assert decode(upsert(list="Stolen-Vehicles")).reason == "bad_list"
    assert decode(upsert(list=["stolen-vehicles"])).reason == "bad_list"
