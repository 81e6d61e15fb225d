"""What a hit's page shows of its entry (`GET /v1/hits/{hit_id}`, beyond the contract)."""

from __future__ import annotations

import dataclasses

from config.subscribers import Principal
from schemas.scope import decode_scope
from tables.watchlist import EntryView
from web.dispositionroutes import entry_shown

DESK = Principal("desk", "subscriber", frozenset({"stolen-vehicles"}), min_priority=2)
UNSCOPED = EntryView("W-1", "stolen-vehicles", "plate", "", "exact", 2, 1797592000000, 0)


def test_a_scoped_entry_shows_its_scope_in_the_contract_form() -> None:
    scope = decode_scope({"locations": ["C-0043", "C-0042", "C-0042"], "areas": ["old-town"],
                          "hours": [{"days": "fri,mon-thu", "from": "07:00", "to": "19:00"},
                                    {"days": "sat", "from": "22:00", "to": "06:00"}],
                          "tz": "Asia/Shanghai"})
    entry = dataclasses.replace(UNSCOPED, scope=scope)
    assert entry_shown(entry, DESK) == {"scope": {
        "locations": ["C-0042", "C-0043"], "areas": ["old-town"],
        "hours": [{"days": "mon-fri", "from": "07:00", "to": "19:00"},
                  {"days": "sat", "from": "22:00", "to": "06:00"}],
        "tz": "Asia/Shanghai"}}


def test_an_unscoped_entry_shows_no_scope() -> None:
    assert entry_shown(UNSCOPED, DESK) == {"scope": None}


def test_an_entry_not_held_or_not_cleared_is_shown_alike_as_none() -> None:
    assert entry_shown(None, DESK) is None
    assert entry_shown(dataclasses.replace(UNSCOPED, list="wanted-persons"), DESK) is None
    assert entry_shown(dataclasses.replace(UNSCOPED, priority=3), DESK) is None
