"""Location commands: every contract rule with its reason, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.identifiers import NAME_RULE, is_valid_identifier
from schemas.json import dumps
from schemas.locations import (
    KINDS,
    MAX_AREAS,
    MAX_NAME_CHARS,
    LocationDelete,
    LocationUpsert,
    decode_location_command,
    encode_location_command,
)
from schemas.rejection import REASONS, Rejected

SETTINGS = settings(max_examples=200, deadline=None, database=None)
DROP = object()

identifiers = st.text(min_size=1, max_size=64).filter(is_valid_identifier)
area_names = st.from_regex(NAME_RULE, fullmatch=True)
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Co", "Zl",
                                                                   "Zp")),
                min_size=1, max_size=MAX_NAME_CHARS).filter(str.strip)
positions = st.one_of(st.none(), st.tuples(st.floats(-90, 90), st.floats(-180, 180)))


@st.composite
def upserts(draw: st.DrawFn) -> LocationUpsert:
    position = draw(positions)
    lat, lon = position if position else (None, None)
    return LocationUpsert(draw(identifiers), draw(st.sampled_from(KINDS)),
                          tuple(draw(st.lists(area_names, max_size=MAX_AREAS, unique=True))),
                          lat, lon, draw(st.none() | names))


def upsert(**changes: object) -> dict[str, object]:
    command: dict[str, object] = {"op": "upsert", "location_id": "C-0042", "kind": "camera",
                                  "areas": ["old-town", "ring-road"], "lat": 37.51,
                                  "lon": 122.12, "name": "Ring Rd / Haibin"}
    command.update(changes)
    return {k: v for k, v in command.items() if v is not DROP}


def decode(command: object, key: bytes | None = b"C-0042"):
    value = command if isinstance(command, bytes) else dumps(command)
    return decode_location_command(value, key)


def test_the_contract_examples_decode() -> None:
    assert decode(upsert()) == LocationUpsert("C-0042", "camera", ("old-town", "ring-road"),
                                              37.51, 122.12, "Ring Rd / Haibin")
    assert decode({"op": "delete", "location_id": "C-0042"}) == LocationDelete("C-0042")


def test_optional_fields_may_be_absent_or_null_and_areas_may_be_empty() -> None:
    got = decode(upsert(areas=[], lat=DROP, lon=None, name=None))
    assert got == LocationUpsert("C-0042", "camera", (), None, None, None)


def test_unknown_fields_are_ignored_and_repeated_areas_count_once() -> None:
    got = decode(upsert(areas=["b", "a", "b"], colour="red"))
    assert isinstance(got, LocationUpsert) and got.areas == ("b", "a")


@pytest.mark.parametrize(("command", "key", "reason"), [
    (b"{", b"C-0042", "bad_json"),
    (b"[]", b"C-0042", "not_a_record"),
    (upsert(op="move"), b"C-0042", "bad_op"),
    (upsert(op=DROP), b"C-0042", "missing_field"),
    (upsert(location_id=DROP), b"C-0042", "missing_field"),
    (upsert(location_id="a/b"), b"a/b", "bad_location_id"),
    (upsert(location_id=" C-1"), b" C-1", "bad_location_id"),
    (upsert(location_id="x" * 65), b"x" * 65, "bad_location_id"),
    (upsert(location_id=42), b"42", "bad_location_id"),
    (upsert(), b"C-0043", "key_mismatch"),
    ({"op": "delete", "location_id": "C-0042"}, b"C-9", "key_mismatch"),
    (upsert(kind="drone"), b"C-0042", "bad_kind"),
    (upsert(kind=DROP), b"C-0042", "missing_field"),
    (upsert(areas=DROP), b"C-0042", "missing_field"),
    (upsert(areas=None), b"C-0042", "missing_field"),
    (upsert(areas="old-town"), b"C-0042", "bad_areas"),
    (upsert(areas=[f"a{i}" for i in range(MAX_AREAS + 1)]), b"C-0042", "bad_areas"),
    (upsert(areas=["Old-Town"]), b"C-0042", "bad_area"),
    (upsert(areas=["ok", ""]), b"C-0042", "bad_area"),
    (upsert(areas=[7]), b"C-0042", "bad_area"),
    (upsert(lat=90.5), b"C-0042", "bad_lat"),
    (upsert(lat="37.5"), b"C-0042", "bad_lat"),
    (upsert(lat=True), b"C-0042", "bad_lat"),
    (upsert(lon=-180.01), b"C-0042", "bad_lon"),
    (upsert(lon=DROP), b"C-0042", "bad_lon"),
    (upsert(lat=DROP), b"C-0042", "bad_lat"),
    (upsert(name=""), b"C-0042", "bad_name"),
    (upsert(name="   "), b"C-0042", "bad_name"),
    (upsert(name="x" * (MAX_NAME_CHARS + 1)), b"C-0042", "bad_name"),
    (upsert(name="evil\u202etxt"), b"C-0042", "bad_name"),
    (upsert(name="two\nlines"), b"C-0042", "bad_name"),
    (upsert(name=5), b"C-0042", "bad_name"),
])
def test_each_rule_is_refused_with_its_reason(command: object, key: bytes, reason: str) -> None:
    got = decode(command, key)
    assert isinstance(got, Rejected), got
    assert (got.reason, got.index) == (reason, None)
    assert reason in REASONS
    assert "\n" not in got.detail


def test_a_tombstone_is_bad_json_and_a_missing_key_is_not_checked() -> None:
    assert decode_location_command(None, b"C-0042").reason == "bad_json"
    assert isinstance(decode(upsert(), key=None), LocationUpsert)


def test_ranges_include_their_ends() -> None:
    for lat, lon in ((90, 180), (-90, -180), (0, 0)):
        got = decode(upsert(lat=lat, lon=lon))
        assert isinstance(got, LocationUpsert) and (got.lat, got.lon) == (lat, lon)


@SETTINGS
@given(upserts())
def test_an_upsert_round_trips(location: LocationUpsert) -> None:
    assert decode(encode_location_command(location), location.location_id.encode()) == location


@SETTINGS
@given(identifiers)
def test_a_delete_round_trips(location_id: str) -> None:
    command = LocationDelete(location_id)
    assert decode(encode_location_command(command), location_id.encode()) == command


@SETTINGS
@given(upserts(), st.sampled_from(["areas", "kind", "lat", "lon", "name", "location_id"]),
       st.one_of(st.integers(-2**63, 2**63 - 1), st.booleans(),
                 st.lists(st.integers(-9, 9), max_size=2)))
def test_a_wrong_typed_field_is_refused_for_that_field(location: LocationUpsert, field: str,
                                                       bad: object) -> None:
    command = upsert(location_id=location.location_id, kind=location.kind,
                     areas=list(location.areas), name=location.name,
                     lat=location.lat or 1.0, lon=location.lon or 1.0)
    command[field] = bad
    got = decode(command, key=None)
    limit = {"lat": 90, "lon": 180}.get(field)
    if limit is not None and type(bad) is int and abs(bad) <= limit:
        assert isinstance(got, LocationUpsert)  # an integer in range is a number
    elif field == "areas" and bad == []:
        assert isinstance(got, LocationUpsert) and got.areas == ()
    else:
        expected = {"areas": "bad_area" if isinstance(bad, list) else "bad_areas",
                    "kind": "bad_kind", "lat": "bad_lat", "lon": "bad_lon", "name": "bad_name",
                    "location_id": "bad_location_id"}[field]
        assert isinstance(got, Rejected) and got.reason == expected, (command, got)
