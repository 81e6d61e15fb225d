"""Signed checkpoints of the audit chain: what a writer without the key can and cannot hide."""

from __future__ import annotations

import pytest

from schemas.audit import AuditChain, event_hash, verify_chain
from schemas.audit_signing import (
    CHECKPOINT_TYPE,
    CheckpointSigner,
    key_id,
    load_private_key,
    load_public_key,
    new_private_key_pem,
    public_key_pem,
    signature_problem,
    verify_checkpoints,
)

EVERY = 5


def signer() -> CheckpointSigner:
    return CheckpointSigner(load_private_key(new_private_key_pem()))


def keys_of(*signers: CheckpointSigner) -> dict:
    return {s.key_id: load_public_key(public_key_pem(s._key)) for s in signers}


def trail(n: int, s: CheckpointSigner, producer: str = "w1", every: int = EVERY,
          timer_after: tuple[int, ...] = ()) -> list[dict]:
    """`n` events of one producer with a checkpoint after every `every` of them (as the
    worker writes them) and one more after each event index in `timer_after`."""
    chain, out, since = AuditChain(producer), [], 0
    for i in range(n):
        out.append(chain.seal({"type": "ack", "at": 1000 + i, "hit_id": f"h-{i}"}))
        since += 1
        if since == every or i in timer_after:
            out.append(s.seal_checkpoint(chain, 1000 + i))
            since = 0
    return out


def listed(events: list[dict]) -> list[tuple[str, dict]]:
    return [(f"line {i + 1}", e) for i, e in enumerate(events)]


def rechained(events: list[dict]) -> list[dict]:
    """What a writer without the key can do: seal the same contents into a new chain."""
    chain = AuditChain(events[0]["producer"])
    strip = ("seq", "prev_hash", "hash")
    return [chain.seal({k: v for k, v in e.items() if k not in strip}) for e in events]


def check(events: list[dict], keys: dict | None, **kw):
    return verify_checkpoints(listed(events), keys, EVERY, **kw)


def test_keys_round_trip_and_are_named_by_a_short_id() -> None:
    s = signer()
    public = load_public_key(public_key_pem(s._key))
    assert key_id(public) == s.key_id and len(s.key_id) == 16
    with pytest.raises(ValueError, match="private key"):
        load_public_key(new_private_key_pem())
    with pytest.raises(ValueError, match="not"):
        load_private_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_a_checkpoint_signs_the_head_and_count_and_is_sealed_into_the_chain() -> None:
    s = signer()
    events = trail(5, s)
    cp = events[-1]
    assert cp["type"] == CHECKPOINT_TYPE and cp["seq"] == 5 and cp["prev_hash"] == events[4]["hash"]
    assert (cp["covers_seq"], cp["covers_hash"], cp["count"], cp["key_id"]) == (
        4, events[4]["hash"], 5, s.key_id)
    assert cp["hash"] == event_hash(cp)
    assert signature_problem(cp, keys_of(s)) is None
    assert s.seal_checkpoint(AuditChain("empty"), 0) is None


def test_a_good_trail_verifies_and_says_what_is_not_signed_yet() -> None:
    s = signer()
    events = trail(12, s, timer_after=(6,))  # checkpoints after 5, 7 (timer), 12
    events += trail(3, s, producer="w2", timer_after=(1,))  # w2: one after 2, 1 unsigned
    assert verify_chain(listed(events)).fault is None
    report = check(events, keys_of(s))
    assert report.status == "ok" and report.faults == ()
    w1, w2 = report.producers
    assert (w1.events, w1.checkpoints, w1.proven, w1.unsigned) == (15, 3, 14, 0)
    assert (w2.events, w2.checkpoints, w2.proven, w2.unsigned) == (4, 1, 2, 1)
    lines = report.lines()
    assert lines[-1].startswith(f"ok: every checkpoint verifies (keys {s.key_id})")
    assert "the 1 newer events are not signed yet" in lines[1]


def test_an_edit_with_the_chain_recomputed_is_named_by_the_next_checkpoint() -> None:
    s = signer()
    events = trail(15, s)  # checkpoints at seq 5, 11, 17
    events[7] = {**events[7], "hit_id": "h-forged"}  # seq 7, between two checkpoints
    forged = rechained(events)
    assert verify_chain(listed(forged)).fault is None  # the hash chain alone is fooled
    report = check(forged, keys_of(s))
    assert report.status == "bad" and len(report.faults) == 1
    fault = report.faults[0]
    assert fault.where == "line 12"  # the checkpoint at seq 11
    assert fault.problem.startswith(
        "events seq 6..10 of w1 (line 7 to line 11) were rewritten after they were signed")
    assert "(and 1 later checkpoints do not match either)" in fault.problem
    assert report.lines()[1].endswith(
        "seq 0..4 proven; 2 checkpoints fail: the 12 events after the newest that verifies "
        "are not proven")


def test_removing_events_before_a_checkpoint_is_counted() -> None:
    s = signer()
    events = trail(10, s)
    gap = events[:2] + events[3:]  # seq 2 removed: a chain gap, and the checkpoint says so
    assert "only 4 of them are present" in check(gap, keys_of(s)).faults[0].problem
    renumbered = rechained(gap)
    faults = check(renumbered, keys_of(s)).faults
    assert faults[0].where == "line 5" and faults[0].problem.startswith(
        "signed for the 5 events before it, but it is seq 4 of w1: 1 events before it were "
        "removed")


def test_a_truncated_tail_shows_against_the_count_expected() -> None:
    s = signer()
    events = trail(13, s)  # checkpoints covering 5 and 11 events; 13 + 2 = 15 events
    keys = keys_of(s)
    assert check(events, keys, expect={"w1": 11}).status == "ok"
    # The newest events after the last checkpoint dropped: only a count of them shows it.
    cut = events[:-2]
    assert check(cut, keys).status == "ok"
    fault = check(cut, keys, expect={"w1": 15}).faults[0]
    assert (fault.where, fault.problem) == ("producer w1", "truncated: 15 events expected, "
                                                           "13 present")
    # The last checkpoint dropped with its tail: its count (the metric) is not covered.
    cut = events[:11]  # seq 11, the checkpoint covering 11 events, and after it
    fault = check(cut, keys, expect={"w1": 11}).faults[0]
    assert fault.problem.startswith("no checkpoint that verifies covers the 11 events expected "
                                    "(the newest covers 5)")
    # Without keys only the count of events is checked.
    assert check(cut, None, expect={"w1": 11}).status == "ok"
    assert check(cut, None, expect={"w9": 1}).faults[0].problem.endswith("0 present")


def test_dropping_every_checkpoint_is_reported() -> None:
    s = signer()
    keys = keys_of(s)
    events = [e for e in trail(12, s) if e["type"] != CHECKPOINT_TYPE]
    report = check(rechained(events), keys)
    assert report.status == "bad"
    assert report.faults[0].where == "line 6" and report.faults[0].problem.startswith(
        "6 events of w1 without a checkpoint (one follows every 5)")
    # Fewer events than a checkpoint is due after: nothing is proven, and it says so.
    short = [e for e in trail(4, s, timer_after=(1,)) if e["type"] != CHECKPOINT_TYPE]
    report = check(rechained(short), keys)
    assert report.status == "unproven" and report.faults == ()
    assert report.lines()[0] == ("unsigned: producer w1: 4 events, no checkpoint that "
                                 "verifies: none of them is proven")
    assert report.lines()[-1].startswith("unproven: no fault found, but 1 producers")


def test_a_wrong_key_or_an_edited_checkpoint_is_reported() -> None:
    s, other = signer(), signer()
    events = trail(5, s)
    fault = check(events, keys_of(other)).faults[0]
    assert fault.where == "line 6" and fault.problem.startswith(
        f"signed with key id '{s.key_id}', not one of the public keys given ({other.key_id})")
    # A checkpoint forged under the right key id, or edited: the signature fails.
    forged = {**events[5], "count": 4}
    events[5] = {**forged, "hash": event_hash(forged)}
    assert check(events, keys_of(s)).faults[0].problem == (
        "signature does not verify: the checkpoint was edited or forged")
    events[5] = {"type": CHECKPOINT_TYPE, **{k: events[5][k] for k in (
        "producer", "seq", "prev_hash", "hash")}}
    assert check(events, keys_of(s)).faults[0].problem.startswith("checkpoint without ")


def test_after_a_key_rotation_each_checkpoint_verifies_with_its_own_key() -> None:
    old, new = signer(), signer()
    events = trail(7, old, producer="w1") + trail(7, new, producer="w2")
    both = check(events, keys_of(old, new))
    assert both.status == "ok" and [p.checkpoints for p in both.producers] == [1, 1]
    assert both.lines()[-1] == (
        f"ok: every checkpoint verifies (keys {', '.join(sorted([old.key_id, new.key_id]))})")
    only_new = check(events, keys_of(new))
    assert only_new.status == "bad" and only_new.faults[0].problem.startswith(
        f"signed with key id '{old.key_id}'")


def test_without_keys_checkpoints_are_counted_not_checked() -> None:
    report = verify_checkpoints(listed(trail(10, signer())), None)
    assert report.status == "ok" and report.lines() == [
        "note: 2 checkpoints not checked (no --public-key)"]
