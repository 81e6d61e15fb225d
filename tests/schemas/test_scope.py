"""Entry scope on upserts: every rule with its reason, the canonical form, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from schemas.audit_events import entry_view
from schemas.json import dumps, loads
from schemas.rejection import Rejected
from schemas.scope import HoursWindow, Scope, decode_scope, encode_scope
from schemas.watchlist import (
    WatchlistDelete,
    WatchlistEntry,
    decode_watchlist_command,
    encode_watchlist_command,
)
from tests.schemas.fixtures import scopes

REFERENCE_MS = 1795000000000
CONTRACT_SCOPE = {"locations": ["C-0042"], "areas": ["old-town"],
                  "hours": [{"days": "mon-fri", "from": "07:00", "to": "19:00"}],
                  "tz": "Asia/Shanghai"}
MON_FRI = 0b0011111


def upsert(scope: object) -> bytes:
    return dumps({"op": "upsert", "entry_id": "W-2026-000018", "list": "stolen-vehicles",
                  "subject_type": "plate", "key": "鲁K12345", "priority": 2,
                  "legal_basis": "case 2026-0418", "requested_by": "unit-17",
                  "expires_at": 1797592000000, "scope": scope})


def decode(scope: object) -> WatchlistEntry | WatchlistDelete | Rejected:
    return decode_watchlist_command(upsert(scope), b"W-2026-000018", REFERENCE_MS, 90)


def window(days: object = "mon", start: object = "07:00", end: object = "19:00") -> dict:
    return {"days": days, "from": start, "to": end}


def test_contract_example_decodes() -> None:
    entry = decode(CONTRACT_SCOPE)
    assert isinstance(entry, WatchlistEntry)
    assert entry.scope == Scope(("C-0042",), ("old-town",), (HoursWindow(420, 1140, MON_FRI),),
                                "Asia/Shanghai")


@pytest.mark.parametrize("scope", [None, {}, {"tz": "Europe/Berlin"}])
def test_a_scope_that_limits_nothing_is_no_scope(scope: object) -> None:
    entry = decode(scope)
    assert isinstance(entry, WatchlistEntry)
    assert entry.scope is None


@pytest.mark.parametrize(
    ("days", "mask"),
    [
        ("mon", 0b0000001),
        ("sun", 0b1000000),
        ("mon-fri", MON_FRI),
        ("sat,sun", 0b1100000),
        ("fri-mon", 0b1110001),  # a range is read forward through the week
        ("mon-wed, sat", 0b0100111),
        ("Mon-Fri", MON_FRI),
        ("mon-mon", 0b0000001),
    ],
)
def test_days(days: str, mask: int) -> None:
    entry = decode({"hours": [window(days=days)]})
    assert isinstance(entry, WatchlistEntry) and entry.scope is not None
    assert entry.scope.hours == (HoursWindow(420, 1140, mask),)


def test_canonical_form_sorts_merges_and_drops_duplicates() -> None:
    a = decode({"locations": ["C-2", "C-1", "C-2"], "areas": ["b", "a", "b"],
                "hours": [window("sat"), window("mon-fri"), window("sat"),
                          window("sun", "22:00", "06:00")]})
    b = decode({"areas": ["a", "b"], "locations": ["C-1", "C-2"],
                "hours": [window("sun", "22:00", "06:00"), window("mon-sat")]})
    assert isinstance(a, WatchlistEntry) and a.scope is not None
    assert a.scope == b.scope  # type: ignore[union-attr]
    assert hash(a.scope) == hash(b.scope)  # type: ignore[union-attr]
    assert a.scope.tz == "UTC"
    assert encode_scope(a.scope) == {
        "locations": ["C-1", "C-2"], "areas": ["a", "b"],
        "hours": [{"days": "mon-sat", "from": "07:00", "to": "19:00"},
                  {"days": "sun", "from": "22:00", "to": "06:00"}],
        "tz": "UTC"}


def test_to_may_be_the_end_of_the_day() -> None:
    entry = decode({"hours": [window("sat", "00:00", "24:00")]})
    assert isinstance(entry, WatchlistEntry) and entry.scope is not None
    assert entry.scope.hours[0].length_min == 1440


@pytest.mark.parametrize(
    ("scope", "reason"),
    [
        ("old-town", "bad_scope"),
        ([CONTRACT_SCOPE], "bad_scope"),
        ({"hour": [window()]}, "bad_scope"),  # misspelt: would widen the entry
        ({"locations": "C-0042"}, "bad_scope_location"),
        ({"locations": []}, "bad_scope_location"),
        ({"locations": ["C/1"]}, "bad_scope_location"),
        ({"locations": [""]}, "bad_scope_location"),
        ({"locations": [" C-1"]}, "bad_scope_location"),
        ({"locations": [42]}, "bad_scope_location"),
        ({"locations": [["C-1"]]}, "bad_scope_location"),
        ({"locations": ["C"] * 1001}, "scope_too_large"),
        ({"areas": "old-town"}, "bad_scope_area"),
        ({"areas": []}, "bad_scope_area"),
        ({"areas": ["Old-Town"]}, "bad_scope_area"),
        ({"areas": ["old town"]}, "bad_scope_area"),
        ({"areas": ["a"] * 65}, "scope_too_large"),
        ({"hours": []}, "bad_scope_hours"),
        ({"hours": window()}, "bad_scope_hours"),
        ({"hours": ["mon-fri 07:00-19:00"]}, "bad_scope_hours"),
        ({"hours": [{"days": "mon", "from": "07:00"}]}, "bad_scope_hours"),
        ({"hours": [{**window(), "until": "20:00"}]}, "bad_scope_hours"),
        ({"hours": [window(start="07:00", end="07:00")]}, "bad_scope_hours"),
        ({"hours": [window()] * 33}, "scope_too_large"),
        ({"hours": [window(days="monday")]}, "bad_scope_days"),
        ({"hours": [window(days="mon-")]}, "bad_scope_days"),
        ({"hours": [window(days="mon-tue-wed")]}, "bad_scope_days"),
        ({"hours": [window(days="")]}, "bad_scope_days"),
        ({"hours": [window(days=["sat", "sun"])]}, "bad_scope_days"),
        ({"hours": [window(start="7:00")]}, "bad_scope_time"),
        ({"hours": [window(start="24:00")]}, "bad_scope_time"),
        ({"hours": [window(end="19:60")]}, "bad_scope_time"),
        ({"hours": [window(end="25:00")]}, "bad_scope_time"),
        ({"hours": [window(end=1900)]}, "bad_scope_time"),
        ({"hours": [window(end="19:00:00")]}, "bad_scope_time"),
        ({"hours": [window()], "tz": "Mars/Olympus"}, "bad_scope_tz"),
        ({"hours": [window()], "tz": "europe/berlin"}, "bad_scope_tz"),
        ({"hours": [window()], "tz": "../../etc/passwd"}, "bad_scope_tz"),
        ({"hours": [window()], "tz": "localtime"}, "bad_scope_tz"),
        ({"hours": [window()], "tz": 8}, "bad_scope_tz"),
        ({"tz": "Nowhere/Else"}, "bad_scope_tz"),  # checked even when it limits nothing
    ],
)
def test_each_scope_rule_has_its_reason(scope: object, reason: str) -> None:
    result = decode(scope)
    assert isinstance(result, Rejected)
    assert (result.reason, result.index) == (reason, None)
    assert "\n" not in result.detail and len(result.detail) < 200


def test_limits_count_items_as_sent() -> None:
    # At the limits exactly, duplicates and all: accepted.
    entry = decode({"locations": ["C-1"] * 1000, "areas": ["a"] * 64, "hours": [window()] * 32})
    assert isinstance(entry, WatchlistEntry) and entry.scope is not None
    assert (entry.scope.locations, entry.scope.areas, len(entry.scope.hours)) == (
        ("C-1",), ("a",), 1)


@settings(max_examples=200, deadline=None, database=None)
@given(scope=scopes())
def test_scope_round_trips(scope: Scope) -> None:
    assert decode_scope(encode_scope(scope)) == scope
    entry = decode(encode_scope(scope))
    assert isinstance(entry, WatchlistEntry)
    assert entry.scope == scope
    again = decode_watchlist_command(encode_watchlist_command(entry), b"W-2026-000018",
                                     REFERENCE_MS, 90)
    assert again == entry


def test_audit_view_records_the_scope() -> None:
    entry = decode(CONTRACT_SCOPE)
    assert isinstance(entry, WatchlistEntry)
    assert loads(dumps(entry_view(entry)))["scope"] == CONTRACT_SCOPE
    unscoped = decode(None)
    assert isinstance(unscoped, WatchlistEntry)
    assert entry_view(unscoped)["scope"] is None
