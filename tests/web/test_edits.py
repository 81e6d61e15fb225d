"""Watchlist edits over HTTP are checked like topic commands, and by the editor's lists."""

from __future__ import annotations

import pytest

from config.subscribers import Principal
from schemas.json import dumps, loads
from schemas.watchlist import WatchlistEntry
from web.edits import EditRefused, edit_request

NOW = 1_795_000_000_000
DAY = 86_400_000
EDITOR = Principal("ed", "editor", frozenset({"stolen-vehicles"}))


def body(**over: object) -> bytes:
    return dumps({"list": "stolen-vehicles", "subject_type": "plate", "key": "AB 123",
                  "priority": 2, "legal_basis": "case 1", "requested_by": "unit-1",
                  "expires_at": NOW + DAY, **over})


def current(list_name: str) -> WatchlistEntry:
    return WatchlistEntry("W-1", list_name, "plate", "", "AB123", "exact", 2, "b", "r", NOW + DAY)


def test_a_valid_put_becomes_the_topic_command() -> None:
    command = edit_request("upsert", "W-1", body(), EDITOR, None, NOW, 90)
    assert loads(command.value)["op"] == "upsert" and loads(command.value)["entry_id"] == "W-1"
    assert command.after["key"] == "AB123"


@pytest.mark.parametrize(("op", "data", "now_entry", "status", "reason"), [
    ("upsert", body(priority=9), None, 400, "bad_priority"),
    ("upsert", b"[1]", None, 400, "not_a_record"),
    ("upsert", body(entry_id="W-2"), None, 400, "key_mismatch"),
    ("upsert", body(op="delete"), None, 400, "bad_op"),
    ("upsert", body(list="wanted-persons"), None, 403, "forbidden"),
    ("upsert", body(), current("wanted-persons"), 403, "forbidden"),
    ("delete", dumps({"requested_by": "r", "reason": "x"}), None, 404, "unknown_entry"),
    ("delete", dumps({"requested_by": "r", "reason": "x"}), current("wanted-persons"), 403,
     "forbidden"),
])
def test_refused_edits_name_their_reason(op: str, data: bytes, now_entry, status: int,
                                         reason: str) -> None:
    with pytest.raises(EditRefused) as refused:
        edit_request(op, "W-1", data, EDITOR, now_entry, NOW, 90)
    assert (refused.value.status, refused.value.reason) == (status, reason)


# The path's entry id, as the server decoded it from the URL (`%2F` arrives as `/`).
BAD_ENTRY_IDS = ["W\x00", "W-1\n", "../../etc/passwd", "W/1", "W%2F1", "W-100%",
                 "\x1b]0;title\x07", "W-1\x07", " W-1", "W-1 ", "W" * 65, "", "W-\u202e1",
                 "W-\u200b1", "W-\u20281"]


@pytest.mark.parametrize("entry_id", BAD_ENTRY_IDS)
@pytest.mark.parametrize(("op", "data"), [("upsert", body()),
                                          ("delete", dumps({"requested_by": "r", "reason": "x"}))])
def test_a_bad_path_entry_id_is_refused_before_anything_else(op: str, data: bytes,
                                                             entry_id: str) -> None:
    # Even with a current entry under that id and a body naming it: the path decides.
    for doc in (data, dumps({**loads(data), "entry_id": entry_id}), b"not json"):
        with pytest.raises(EditRefused) as refused:
            edit_request(op, entry_id, doc, EDITOR, current("stolen-vehicles"), NOW, 90)
        assert (refused.value.status, refused.value.reason) == (400, "bad_entry_id")
        assert "\n" not in refused.value.detail and "\x1b" not in refused.value.detail


@pytest.mark.parametrize("entry_id", ["W" * 64, "案件-2026-第17号", "W <1> & 'x'"])
def test_printable_path_entry_ids_are_accepted(entry_id: str) -> None:
    command = edit_request("upsert", entry_id, body(), EDITOR, None, NOW, 90)
    assert loads(command.value)["entry_id"] == entry_id
