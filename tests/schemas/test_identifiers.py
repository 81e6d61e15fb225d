"""The identifier rule (contract v1.1): against a plain reference, and in every decoder."""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.checkins import decode_checkins
from schemas.identifiers import (
    KnownValid,
    identifier_problem,
    is_valid_identifier,
    is_valid_name,
    name_problem,
)
from schemas.json import dumps
from schemas.plates import decode_plate_reads
from schemas.rejection import Rejected
from schemas.sensing import decode_sensing
from schemas.watchlist import WatchlistDelete, WatchlistEntry, decode_watchlist_command

SETTINGS = settings(max_examples=2000, deadline=None, database=None)
REFERENCE_MS = 1_795_000_000_000


def reference_identifier(value: object) -> bool:
    """The rule written the obvious way, one character at a time."""
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        return False
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return False
        if ch in "/%":
            return False
    return value == value.strip()


def reference_name(value: object) -> bool:
    first = string.ascii_lowercase + string.digits
    return (isinstance(value, str) and 1 <= len(value) <= 64 and value[0] in first
            and all(ch in first + "._-" for ch in value[1:]))


# The finding's values and their relatives: each must be refused, wherever it comes in.
HOSTILE = {
    "nul": "S\x00-1",
    "newline": "S-1\n",
    "inner newline": "S-\n1",
    "path traversal": "../../etc/passwd",
    "slash": "S/1",
    "escape sequence": "\x1b]0;title\x07",
    "bel": "S-1\x07",
    "tab": "S\t1",
    "del": "S-1\x7f",
    "c1 control": "S-1\x85",
    "leading space": " S-1",
    "trailing space": "S-1 ",
    "trailing ideographic space": "S-1\u3000",
    "leading nbsp": "\xa0S-1",
    "only spaces": "   ",
    "65 characters": "S" * 65,
    "empty": "",
    "bidi override": "S-\u202e1-S",
    "zero-width space": "S-\u200b1",
    "byte order mark": "\ufeffS-1",
    "line separator": "S-\u20281",
    "paragraph separator": "S-\u20291",
    "private use": "S-\ue000",
    "unassigned": "S-\U000e0080",
    "percent-encoded slash": "S%2F1",
    "percent": "S-100%",
}
# Valid everywhere: 64 characters, non-ASCII printable, spaces and markup inside.
ACCEPTED = ["S" * 64, "传感器-北门-01", "鲁K·摄像头", "Ring Rd cam 4", "Café-Ω", "a\xa0b", "1",
            "<img src=x onerror=alert(1)>&'\"", "\U0001f4f7"]


# -- the rule, against the reference ------------------------------------------------------

EDGE_CHARS = ("\x00\x07\t\n\r\x1b\x1f \x7f\x85\xa0/%<>&:\\.-_\u00ad\u061c\u200b\u200d\u200e"
              "\u2028\u2029\u202e\u2066\u3000\ufeff\ue000\ud800\udfff\U0010ffff\U000e0080"
              "鲁Ωé\u0301")
edgy_text = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(EDGE_CHARS)),
                    max_size=70)
long_text = st.text(alphabet=st.sampled_from("aZ9-. %/é\u3000"), min_size=60, max_size=68)
name_like = st.text(alphabet=st.sampled_from("az09._-A/ \n"), max_size=66)
anything = st.one_of(edgy_text, long_text, name_like, st.integers(), st.none(),
                     st.lists(st.text(max_size=3), max_size=2))


@SETTINGS
@given(anything)
def test_identifier_rule_is_the_reference(value: object) -> None:
    assert is_valid_identifier(value) is reference_identifier(value)
    assert (identifier_problem(value) is None) is reference_identifier(value)


@SETTINGS
@given(anything)
def test_name_rule_is_the_reference(value: object) -> None:
    assert is_valid_name(value) is reference_name(value)
    assert (name_problem(value) is None) is reference_name(value)


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_values_are_not_identifiers(value: str) -> None:
    problem = identifier_problem(value)
    assert problem is not None and (not value.strip() or value not in problem)
    assert not is_valid_identifier(value)


@pytest.mark.parametrize("value", ACCEPTED)
def test_printable_identifiers_are_accepted(value: str) -> None:
    assert is_valid_identifier(value) and identifier_problem(value) is None


@SETTINGS
@given(st.lists(st.one_of(edgy_text, st.sampled_from(ACCEPTED), st.integers(), st.none(),
                          st.lists(st.integers(), max_size=1)), max_size=8))
def test_known_valid_judges_a_column_as_the_rule_does(values: list[Any]) -> None:
    memo = KnownValid(limit=4)
    for _ in range(2):  # the second time through, valid values come from the memo
        assert memo.all_valid(values) is all(map(reference_identifier, values))


def test_known_valid_forgets_rather_than_grows() -> None:
    memo = KnownValid(limit=3)
    assert memo.all_valid(["a", "b"]) and memo.all_valid(["c", "d"])
    assert memo.all_valid(["e", "f", "g", "h"])  # more than the limit: judged, not kept
    assert len(memo._known) <= 3
    assert not memo.all_valid(["a", "b/"]) and not memo.all_valid([["a"]])


# -- every decoder ------------------------------------------------------------------------

def sighting(sensor_id: object) -> dict[str, object]:
    return {"sensor_id": sensor_id, "ts": REFERENCE_MS, "id_type": "mac",
            "device_id": "a4:5e:60:d1:22:9f", "rssi": -60}


def plate_read(camera_id: object) -> dict[str, object]:
    return {"camera_id": camera_id, "ts": REFERENCE_MS, "plate": "鲁K·12345"}


def checkin(property_id: object) -> dict[str, object]:
    return {"property_id": property_id, "ts": REFERENCE_MS, "doc_type": "passport",
            "doc_number": "E12345678"}


def location_ids(kind: str, records: list[dict[str, object]]) -> list[tuple[str, list[str]]]:
    """Decode records of `kind` as one array; return (reasons, location ids decoded)."""
    value = dumps(records)
    if kind == "sensing":
        batch, rejected = decode_sensing(value, None)
        ids = [batch.location_id(i) for i in range(len(batch))]
    elif kind == "plates":
        reads, rejected = decode_plate_reads(value)
        ids = [r.camera_id for r in reads]
    else:
        checkins, rejected = decode_checkins(value)
        ids = [c.property_id for c in checkins]
    return [(r.reason, r.index) for r in rejected], ids


RECORDS: dict[str, tuple[Callable[[object], dict[str, object]], str]] = {
    "sensing": (sighting, "bad_sensor_id"),
    "plates": (plate_read, "bad_camera_id"),
    "checkins": (checkin, "bad_property_id"),
}


@pytest.mark.parametrize("kind", sorted(RECORDS))
@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_each_record_decoder_refuses_a_bad_location_id(kind: str, value: str) -> None:
    make, reason = RECORDS[kind]
    for records, bad_at in (([make(value)], 0), ([make("L-1"), make(value), make("L-2")], 1)):
        rejected, ids = location_ids(kind, records)
        assert rejected == [(reason, bad_at)]
        assert value not in ids and len(ids) == len(records) - 1
    # A single record (not an array) is refused whole, with no index.
    if kind == "sensing":
        rejected = decode_sensing(dumps(make(value)), None)[1]
    elif kind == "plates":
        rejected = decode_plate_reads(dumps(make(value)))[1]
    else:
        rejected = decode_checkins(dumps(make(value)))[1]
    assert [(r.reason, r.index) for r in rejected] == [(reason, None)]


@pytest.mark.parametrize("kind", sorted(RECORDS))
@pytest.mark.parametrize("value", ACCEPTED)
def test_each_record_decoder_accepts_a_printable_location_id(kind: str, value: str) -> None:
    make, _ = RECORDS[kind]
    assert location_ids(kind, [make(value), make("L-1")]) == ([], [value, "L-1"])


def no_surrogates(text: str) -> bool:
    return not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)  # JSON cannot carry them


@SETTINGS
@given(st.lists((edgy_text | long_text).filter(no_surrogates)
                | st.sampled_from(ACCEPTED + list(HOSTILE.values())), min_size=1, max_size=6))
def test_sensing_keeps_exactly_the_valid_sensor_ids(names: list[str]) -> None:
    # Both the column-wise path (every record valid) and the per-record one are reached.
    rejected, ids = location_ids("sensing", [sighting(n) for n in names])
    assert ids == [n for n in names if reference_identifier(n)]
    assert rejected == [("bad_sensor_id", i) for i, n in enumerate(names)
                        if not reference_identifier(n)]


def upsert(entry_id: object, **changes: object) -> dict[str, object]:
    return {"op": "upsert", "entry_id": entry_id, "list": "stolen-vehicles",
            "subject_type": "plate", "key": "鲁K12345", "priority": 2, "legal_basis": "case 1",
            "requested_by": "unit-1", "expires_at": REFERENCE_MS + 86_400_000, **changes}


def delete(entry_id: object) -> dict[str, object]:
    return {"op": "delete", "entry_id": entry_id, "requested_by": "unit-1", "reason": "done"}


def command(doc: dict[str, object], key: bytes | None) -> object:
    return decode_watchlist_command(dumps(doc), key, REFERENCE_MS, 90)


@pytest.mark.parametrize("build", [upsert, delete])
@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_watchlist_commands_refuse_a_bad_entry_id(build: Callable[..., dict[str, object]],
                                                  value: str) -> None:
    for key in (None, value.encode("utf-8", "surrogatepass")):
        result = command(build(value), key)
        assert isinstance(result, Rejected) and result.reason == "bad_entry_id"
        assert "\n" not in result.detail and "\x1b" not in result.detail


@pytest.mark.parametrize("build", [upsert, delete])
@pytest.mark.parametrize("value", ACCEPTED)
def test_watchlist_commands_accept_a_printable_entry_id(build: Callable[..., dict[str, object]],
                                                        value: str) -> None:
    result = command(build(value), value.encode())
    assert isinstance(result, WatchlistEntry | WatchlistDelete) and result.entry_id == value


@pytest.mark.parametrize("name", ["Stolen", "stolen/../x", "stolen\n", "\x1b[31m", "", " s",
                                  "s" * 65, "列表", "-s", "s\u200b", 7])
def test_watchlist_upserts_refuse_a_bad_list(name: object) -> None:
    result = command(upsert("W-1", list=name), b"W-1")
    assert isinstance(result, Rejected) and result.reason == "bad_list"


@pytest.mark.parametrize("name", ["s" * 64, "0", "old-town.ring_2"])
def test_watchlist_upserts_accept_a_list_name(name: str) -> None:
    result = command(upsert("W-1", list=name), b"W-1")
    assert isinstance(result, WatchlistEntry) and result.list == name
