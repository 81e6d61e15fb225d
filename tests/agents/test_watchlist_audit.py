"""The watchlist audit's pure parts: a getmany batch becomes its sealed audit events, the
dead letters of its refused commands and the offsets to commit; expiry ownership follows the
audit consumer's assignment. Without a broker."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace

from aiokafka import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.audit import AuditTrail
from agents.metrics import build_metrics
from agents.watchlist import apply_judged, expire_entries, judge_command
from agents.watchlist_audit import (
    AuditBatch,
    _Ownership,
    audit_batch,
    split_batches,
    watchlist_record_audit,
)
from schemas.audit import event_hash, verify_chain
from schemas.audit_events import watchlist_record_event
from schemas.audit_signing import (
    CheckpointSigner,
    load_private_key,
    load_public_key,
    new_private_key_pem,
    public_key_pem,
    verify_checkpoints,
)
from schemas.json import dumps, loads
from schemas.rejection import Rejected, encode_deadletter
from schemas.watchlist import decode_watchlist_command
from streams.delivery import Outgoing
from tests.agents.fixtures import make_context
from tests.schemas.test_watchlist_batch import TTL_DAYS
from tests.schemas.test_watchlist_batch_events import records, source

T0 = 1_795_000_000_000
DAY = 86_400_000
TOPIC = "vigil.watchlist"


def upsert(entry_id: str, **over) -> bytes:
    return dumps({"op": "upsert", "entry_id": entry_id, "list": "l", "subject_type": "plate",
                  "key": "AB 123", "priority": 1, "legal_basis": "b", "requested_by": "r",
                  "expires_at": T0 + DAY, **over})


def record(partition: int, offset: int, key: bytes | None, value: bytes | None):
    return SimpleNamespace(topic=TOPIC, partition=partition, offset=offset, key=key,
                           value=value, timestamp=T0)


def batches() -> dict:
    delete = dumps({"op": "delete", "entry_id": "W-2", "requested_by": "r", "reason": "done"})
    return {
        TopicPartition(TOPIC, 0): [record(0, 10, b"W-1", upsert("W-1")),
                                   record(0, 11, b"W-3", upsert("W-3", priority=9)),
                                   record(0, 12, b"W-4", b"{not json")],
        TopicPartition(TOPIC, 1): [record(1, 5, b"W-2", delete),
                                   record(1, 6, b"W-5", None)],
        TopicPartition(TOPIC, 2): [],
    }


def test_a_batch_becomes_its_audit_events_dead_letters_and_offsets() -> None:
    metrics = build_metrics()
    trail = AuditTrail("AUDIT", metrics.audit_events, 0, "w1")
    out = audit_batch(batches(), trail, watchlist_record_audit(90), T0 + 5, "DLQ")
    events = [loads(v) for v in out.values]
    assert [(e["type"], e.get("op"), e.get("reason")) for e in events] == [
        ("watchlist_change", "upsert", None), ("request_refused", None, "bad_priority"),
        ("request_refused", None, "bad_json"), ("watchlist_change", "delete", "done"),
        ("watchlist_change", "tombstone", None)]
    assert [e["source"]["offset"] for e in events] == [10, 11, 12, 5, 6]
    assert all(e["at"] == T0 + 5 for e in events)
    assert [e["seq"] for e in events] == [0, 1, 2, 3, 4]
    assert all(event_hash(e) == e["hash"] for e in events)
    assert verify_chain([(str(i), e) for i, e in enumerate(events)]).fault is None
    assert out.offsets == {TopicPartition(TOPIC, 0): 13, TopicPartition(TOPIC, 1): 7}
    assert out.rejected == {"bad_priority": 1, "bad_json": 1}
    assert [(m.topic, m.key) for m in out.dead_letters] == [("DLQ", TOPIC.encode())] * 2
    letters = [loads(m.value) for m in out.dead_letters]
    assert [(d["reason"], d["offset"]) for d in letters] == [
        ("bad_priority", 11), ("bad_json", 12)]
    assert out.checkpoints == []
    assert metrics.registry.get_sample_value(
        "vigil_audit_events_total", {"type": "watchlist_change"}) == 3


def test_sealed_in_one_go_like_one_by_one() -> None:
    """The batch's values are the events `entry()` would have written, hash for hash."""
    metrics = build_metrics()
    one, many = (AuditTrail("AUDIT", metrics.audit_events, 0, "w1") for _ in range(2))
    events = [{"type": "ack", "at": i, "nested": {"b": [1, None], "a": "é"}} for i in range(5)]
    singles = [loads(one.entry(e).value) for e in events]
    values, _ = many.seal_batch(events)
    assert [loads(v) for v in values] == singles
    assert many.chain.head == one.chain.head


def test_checkpoints_are_sealed_after_every_nth_event_of_a_batch() -> None:
    metrics = build_metrics()
    signer = CheckpointSigner(load_private_key(new_private_key_pem()))
    trail = AuditTrail("AUDIT", metrics.audit_events, 0, "w1", signer=signer,
                       checkpoint_every_events=2,
                       checkpoint_gauge=metrics.audit_checkpoint_events, clock=lambda: 7)
    first = audit_batch(batches(), trail, watchlist_record_audit(90), T0, "DLQ")
    second = audit_batch({TopicPartition(TOPIC, 0): [record(0, 13, b"W-6", upsert("W-6"))]},
                         trail, watchlist_record_audit(90), T0, "DLQ")
    values = first.values + second.values
    events = [loads(v) for v in values]
    assert [e["type"][:5] for e in events] == [
        "watch", "reque", "audit", "reque", "watch", "audit", "watch", "watch", "audit"]
    assert first.checkpoints == [2, 5] and second.checkpoints == [8]
    assert trail.signed == 0
    trail.acked(second.checkpoints)
    trail.acked(first.checkpoints)  # acks may come reordered: the gauge never goes back
    assert trail.signed == 8 and metrics.registry.get_sample_value(
        "vigil_audit_checkpoint_events", {"producer": "w1"}) == 8
    listed = [(str(i), e) for i, e in enumerate(events)]
    keys = {signer.key_id: load_public_key(public_key_pem(signer._key))}
    assert verify_chain(listed).fault is None
    assert verify_checkpoints(listed, keys, 2).status == "ok"


def test_ownership_follows_the_audit_consumers_assignment() -> None:
    async def run() -> None:
        owner = _Ownership()
        assert owner.partitions is None
        await owner.on_partitions_assigned([TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 2)])
        assert owner.partitions == {0, 2}
        await owner.on_partitions_revoked([TopicPartition(TOPIC, 0)])
        assert owner.partitions is None

    asyncio.run(run())


def test_expiries_are_audited_for_the_owned_partitions_only() -> None:
    async def run(owned) -> list[str]:
        c = make_context()
        for p, entry_id in enumerate(("W-1", "W-2")):
            value = upsert(entry_id, expires_at=T0 + 1)
            apply_judged(c, [(judge_command(value, entry_id.encode(), T0, 90), None, p)])
        c.watchlist_loaded.set()
        written: list[str] = []

        async def write(*events) -> None:
            written.extend(e["entry_id"] for e in events)

        sent = []
        c.audit.entry = lambda e: sent.append(e["entry_id"]) or None  # type: ignore[method-assign]

        async def deliver(out, _retries) -> None:
            written.extend(sent)

        import agents.watchlist as w
        real, w.deliver = w.deliver, deliver
        try:
            removed = await expire_entries(c, lambda: owned, 0)
        finally:
            w.deliver = real
        return [str(removed), *written]

    assert asyncio.run(run(None)) == ["0"]  # ownership unknown: the next tick decides
    assert asyncio.run(run(frozenset({1}))) == ["2", "W-2"]
    assert asyncio.run(run(frozenset())) == ["2"]


def test_a_batch_the_decoder_fails_on_is_judged_record_by_record(monkeypatch) -> None:
    import agents.watchlist as reader
    import agents.watchlist_audit as audit

    def broken_batch(*_args):
        raise RuntimeError("decoder bug")

    def broken_on_w3(value, key, *args):
        if key == b"W-3":
            raise RuntimeError("decoder bug")
        return decode_watchlist_command(value, key, *args)

    monkeypatch.setattr(audit, "decode_watchlist_batch", broken_batch)
    monkeypatch.setattr(reader, "decode_watchlist_command", broken_on_w3)
    records = [rec for recs in batches().values() for rec in recs]
    verdicts = audit.judge_commands(records, 90)
    assert [v.reason if isinstance(v, Rejected) else type(v).__name__
            for v in map(verdicts.command, range(len(records)))] == [
        "WatchlistEntry", "internal_error", "bad_json", "WatchlistDelete", "NoneType"]
    events = [loads(v) for v in audit_batch(batches(), AuditTrail("AUDIT", build_metrics(
        ).audit_events, 0, "w1"), watchlist_record_audit(90), T0, "DLQ").values]
    assert [(e["type"], e.get("op"), e.get("entry_id")) for e in events] == [
        ("watchlist_change", "upsert", "W-1"), ("request_refused", None, None),
        ("request_refused", None, None), ("watchlist_change", "delete", "W-2"),
        ("watchlist_change", "tombstone", "W-5")]


def test_a_batch_audited_in_chunks_is_the_batch_audited_at_once() -> None:
    metrics = build_metrics()
    whole = audit_batch(batches(), AuditTrail("AUDIT", metrics.audit_events, 0, "w1"),
                        watchlist_record_audit(90), T0,
                        "DLQ")
    for size in range(1, 7):
        trail = AuditTrail("AUDIT", metrics.audit_events, 0, "w1")
        chunks = list(split_batches(batches(), size))
        assert all(sum(map(len, c.values())) <= size for c in chunks)
        assert [r.offset for c in chunks for rs in c.values() for r in rs] == [
            10, 11, 12, 5, 6]
        chunked = AuditBatch([], [], [], {})
        for chunk in chunks:
            chunked.extend(audit_batch(chunk, trail, watchlist_record_audit(90), T0, "DLQ"))
        assert (chunked.values, chunked.rejected, chunked.offsets) == (
            whole.values, whole.rejected, whole.offsets)
        assert [m.value for m in chunked.dead_letters] == [m.value for m in whole.dead_letters]


SIGNER = CheckpointSigner(load_private_key(new_private_key_pem()))


def reference_audit(records: list, trail: AuditTrail, at_ms: int) -> AuditBatch:
    """What `audit_batch` must give: each record judged alone, its event made as a dict and
    sealed by the chain's dict path."""
    commands = [judge_command(r.value, r.key, r.timestamp, TTL_DAYS) for r in records]
    values, checkpoints = trail.seal_batch([
        watchlist_record_event(command, r.key, source(r), at_ms)
        for r, command in zip(records, commands, strict=True)])
    refused = [(r, c) for r, c in zip(records, commands, strict=True) if isinstance(c, Rejected)]
    return AuditBatch(
        values, checkpoints,
        [Outgoing("DLQ", r.topic.encode(),
                  encode_deadletter(c, r.value, r.topic, r.partition, r.offset))
         for r, c in refused],
        dict(Counter(c.reason for _, c in refused)),
        {TopicPartition(r.topic, r.partition): r.offset + 1 for r in records})


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(records(), min_size=1, max_size=3), st.integers(1, 7), st.integers(1, 40))
def test_audit_batch_gives_what_the_plain_path_gives(
        getmanys: list[list], every: int, chunk: int) -> None:
    fast_metrics, plain_metrics = build_metrics(), build_metrics()
    fast, plain = (AuditTrail("AUDIT", m.audit_events, 0, "w1", signer=SIGNER,
                              checkpoint_every_events=every, clock=lambda: 7)
                   for m in (fast_metrics, plain_metrics))
    for recs in getmanys:  # one getmany after the other, into one chain
        batches: dict[TopicPartition, list] = {}
        for r in recs:
            batches.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
        # As a lean reader fetches them: the partition says where they came from.
        lean = {tp: [SimpleNamespace(offset=r.offset, timestamp=r.timestamp, key=r.key,
                                     value=r.value) for r in rs] for tp, rs in batches.items()}
        got = AuditBatch([], [], [], {})
        for part in split_batches(lean, chunk):
            got.extend(audit_batch(part, fast, watchlist_record_audit(TTL_DAYS), T0, "DLQ"))
        want = reference_audit([r for rs in batches.values() for r in rs], plain, T0)
        assert (got.values, got.checkpoints, got.rejected, got.offsets) == (
            want.values, want.checkpoints, want.rejected, want.offsets)
        assert [(m.topic, m.key, m.value) for m in got.dead_letters] == [
            (m.topic, m.key, m.value) for m in want.dead_letters]
    assert fast.chain.head == plain.chain.head
    counted = [{(s.labels["type"], s.value) for metric in m.registry.collect()
                for s in metric.samples if s.name == "vigil_audit_events_total"}
               for m in (fast_metrics, plain_metrics)]
    assert counted[0] == counted[1] and bool(counted[0]) == any(getmanys)
