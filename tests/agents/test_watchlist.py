"""Applying and auditing watchlist records, without a broker."""

from __future__ import annotations

import asyncio
from collections import namedtuple

import pytest
from aiokafka import TopicPartition

from agents.context import WorkerContext
from agents.watchlist import _log_lost, apply_judged, apply_records, judge_command
from config.settings import load_settings
from schemas.audit_events import watchlist_record_event as audit_event
from schemas.json import dumps
from schemas.plates import PlateRead
from schemas.rejection import Rejected
from tables.matching import find_plate_hits
from tests.agents.fixtures import make_context

T0 = 1_795_000_000_000
DAY = 86_400_000


def apply_one(c: WorkerContext, command, key: bytes | None, partition: int = 0) -> str:
    """Apply one judged command; return what it was."""
    (done,) = apply_judged(c, [(command, key, partition)])
    return done


def ctx() -> WorkerContext:
    s = load_settings(env={})
    return make_context(s)


def upsert(**over) -> bytes:
    return dumps({"op": "upsert", "entry_id": "W-1", "list": "l", "subject_type": "plate",
                  "key": "AB 123", "priority": 1, "legal_basis": "b", "requested_by": "r",
                  "expires_at": T0 + DAY, **over})


def test_commands_are_judged_by_their_own_timestamp() -> None:
    # Valid when written; a replay a year later judges it the same way.
    assert not isinstance(judge_command(upsert(), b"W-1", T0, 90), Rejected)
    late = judge_command(upsert(), b"W-1", T0 + 2 * DAY, 90)
    assert isinstance(late, Rejected) and late.reason == "expired"


def test_apply_upsert_delete_tombstone_and_refusal() -> None:
    c = ctx()
    assert apply_one(c, judge_command(upsert(), b"W-1", T0, 90), b"W-1") == "upsert"
    assert (c.watchlist.get("W-1").list, c.watchlist.get("W-1").subject_type) == ("l", "plate")
    bad = judge_command(upsert(entry_id="W-2", legal_basis=" "), b"W-2", T0, 90)
    assert apply_one(c, bad, b"W-2") == "rejected" and c.watchlist.get("W-2") is None
    delete = dumps({"op": "delete", "entry_id": "W-1", "requested_by": "r", "reason": "found"})
    assert apply_one(c, judge_command(delete, b"W-1", T0, 90), b"W-1") == "delete"
    assert len(c.watchlist) == 0
    apply_one(c, judge_command(upsert(), b"W-1", T0, 90), b"W-1")
    assert apply_one(c, judge_command(None, b"W-1", T0, 90), b"W-1") == "tombstone"
    assert len(c.watchlist) == 0


def test_a_batch_applies_in_order_and_counts_each_kind() -> None:
    c = ctx()
    delete = dumps({"op": "delete", "entry_id": "W-1", "requested_by": "r", "reason": "found"})
    judged = [(judge_command(v, k, T0, 90), k, p) for v, k, p in [
        (upsert(), b"W-1", 0), (upsert(list="m"), b"W-1", 0), (delete, b"W-1", 0),
        (upsert(entry_id="W-2"), b"W-2", 3), (upsert(entry_id="W-3", priority=9), b"W-3", 1),
        (None, b"W-4", 2)]]
    assert apply_judged(c, judged) == {"upsert": 3, "delete": 1, "rejected": 1, "tombstone": 1}
    assert c.watchlist.get("W-1") is None and c.watchlist.get("W-2").partition == 3
    assert c.watchlist.entries_by_list() == {"l": 1, "m": 0}


def test_every_kind_of_record_leaves_an_audit_event() -> None:
    src = {"topic": "vigil.watchlist", "partition": 0, "offset": 7}
    change = audit_event(judge_command(upsert(), b"W-1", T0, 90), b"W-1", src, T0)
    assert (change["type"], change["op"], change["after"]["key"]) == (
        "watchlist_change", "upsert", "AB123")
    refused = audit_event(judge_command(upsert(priority=9), b"W-1", T0, 90), b"W-1", src, T0)
    assert (refused["type"], refused["reason"]) == ("request_refused", "bad_priority")
    tomb = audit_event(None, b"W-1", src, T0)
    assert (tomb["op"], tomb["entry_id"], tomb["requested_by"]) == ("tombstone", "W-1", None)


class EndOffsets:
    """Stands in for the reader's consumer: only its end offsets matter here."""

    def __init__(self, ends: dict) -> None:
        self.ends = ends

    async def end_offsets(self, tps: list) -> dict:
        return {tp: self.ends[tp] for tp in tps}


@pytest.mark.parametrize(("batch_counting", "end", "lost"), [
    (False, 5, False), (False, 3, True), (False, 0, True),
    # End offsets that count batches sit below what was read: only an empty log is lost.
    (True, 3, False), (True, 0, True),
])
def test_watchlist_log_lost_when_it_is_shorter_than_read(batch_counting, end, lost) -> None:
    c = make_context(one_record_per_batch=batch_counting)
    apply_one(c, judge_command(upsert(), b"W-1", T0, 90), b"W-1")
    c.watchlist_loaded.set()
    tp = TopicPartition(c.topics.watchlist, 0)
    assert asyncio.run(_log_lost(c, EndOffsets({tp: end}), {tp: 5})) is lost
    assert (len(c.watchlist), c.watchlist_loaded.is_set()) == ((0, False) if lost else (1, True))


Record = namedtuple("Record", "value key timestamp partition")


def test_a_decoded_batch_leaves_the_watchlist_as_judging_each_command_does() -> None:
    """The reader's batch path (columns, no command objects) against one command at a time:
    every kind of command, scoped and OCR-tolerant entries, tombstones and refusals."""
    delete = dumps({"op": "delete", "entry_id": "W-1", "requested_by": "r", "reason": "found"})
    scope = {"locations": ["C-1"], "hours": [{"days": "mon", "from": "22:00", "to": "06:00"}]}
    values = [
        (upsert(), b"W-1"), (upsert(entry_id="W-2", match="ocr-tolerant", key="AB 12O"), b"W-2"),
        (upsert(entry_id="W-3", subject_type="device", id_type="mac", key="A4:5E:60:D1:22:9F",
                scope=scope), b"W-3"),
        (upsert(entry_id="W-4", subject_type="document", doc_type="passport", key="E1234567",
                list="other"), b"W-4"),
        (delete, b"W-1"), (upsert(entry_id="W-5", priority=9), b"W-5"), (None, b"W-4"),
        (upsert(entry_id="W-6", key="CD 345"), b"W-6"), (b"{", b"W-7"), (None, None)]
    records = [Record(v, k, T0, i % 3) for i, (v, k) in enumerate(values)]
    batched, one_by_one = ctx(), ctx()
    batches = {TopicPartition(batched.topics.watchlist, p): [r for r in records if r.partition == p]
               for p in range(3)}
    assert apply_records(batched, batches) == apply_judged(one_by_one, [
        (judge_command(r.value, r.key, r.timestamp, 90), r.key, r.partition)
        for rs in batches.values() for r in rs])
    for entry_id in (f"W-{i}" for i in range(1, 8)):
        assert batched.watchlist.get(entry_id) == one_by_one.watchlist.get(entry_id)
    assert batched.watchlist.entries_by_list() == one_by_one.watchlist.entries_by_list()
    assert batched.watchlist.get("W-3").scope is not None
    plates = [PlateRead(camera_id="C-1", ts=T0, plate=p, plate_norm=p, confidence=None,
                        country=None) for p in ("AB12O", "AB120", "CD345")]
    assert [(h.entry_id, h.match) for h in find_plate_hits(plates, batched.watchlist, T0)] == [
        (h.entry_id, h.match) for h in find_plate_hits(plates, one_by_one.watchlist, T0)] == [
        ("W-2", "exact"), ("W-2", "ocr-tolerant"), ("W-6", "exact")]
