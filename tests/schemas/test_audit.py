"""The audit chain: sealing, and verification naming the first bad event."""

from __future__ import annotations

from schemas.audit import GENESIS, AuditChain, event_hash, verify_chain


def chain(n: int, producer: str = "w1") -> list[dict]:
    c = AuditChain(producer)
    return [c.seal({"type": "ack", "at": i, "hit_id": f"h-{i}"}) for i in range(n)]


def listed(events: list[dict]) -> list[tuple[str, dict]]:
    return [(f"line {i + 1}", e) for i, e in enumerate(events)]


def test_sealed_events_link_to_their_predecessor() -> None:
    a, b = chain(2)
    assert (a["seq"], a["prev_hash"], b["seq"], b["prev_hash"]) == (0, GENESIS, 1, a["hash"])
    assert a["hash"] == event_hash(a)


def test_an_intact_log_of_interleaved_out_of_order_chains_passes() -> None:
    one, two = chain(3, "w1"), chain(2, "w2")
    report = verify_chain(listed([one[0], two[0], one[2], one[1], two[1]]))
    assert (report.fault, report.events, report.producers) == (None, 5, 2)
    assert report.summary().startswith("ok: 5 events from 2 producers")


def test_an_edited_event_is_named() -> None:
    events = chain(4)
    events[2] = {**events[2], "hit_id": "h-other"}
    fault = verify_chain(listed(events)).fault
    assert fault.where == "line 3" and "edited" in fault.problem


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link() -> None:
    events = chain(4)
    forged = {**events[1], "hit_id": "h-other"}
    events[1] = {**forged, "hash": event_hash(forged)}
    fault = verify_chain(listed(events)).fault
    assert fault.where == "line 3" and "prev_hash" in fault.problem


def test_a_removed_event_is_named_by_the_one_after_the_gap() -> None:
    events = chain(5)
    del events[1]
    fault = verify_chain(listed(events)).fault
    assert fault.where == "line 2" and fault.problem.startswith("seq 2 of w1 follows 0")


def test_a_repeated_or_unsealed_event_is_named() -> None:
    events = chain(3)
    assert verify_chain(listed([*events, events[1]])).fault.where == "line 4"
    assert verify_chain(listed([events[0], {"type": "ack"}])).fault.problem.startswith(
        "missing producer")
