"""The audit chain: sealing, and verification naming the first bad event."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.audit import (
    CHAIN_FIELDS,
    GENESIS,
    PREV_HASH_SLOT,
    SEQ_SLOT,
    AuditChain,
    event_hash,
    verify_chain,
)
from schemas.json import loads


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


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=8)
events = st.lists(st.dictionaries(st.text(max_size=6).filter(lambda k: k not in CHAIN_FIELDS),
                                  json_values, max_size=5).map(lambda e: {**e, "type": "ack"}),
                  max_size=8)


@settings(max_examples=100, deadline=None)
@given(events, events)
def test_sealing_many_at_once_gives_the_events_sealed_one_by_one(first: list[dict],
                                                                 then: list[dict]) -> None:
    one, many = AuditChain("w1"), AuditChain("w1")
    singles = [one.seal(e) for e in first + then]
    sealed = [loads(v) for v in many.seal_many(first) + many.seal_many(then)]
    assert sealed == singles and many.head == one.head
    assert all(v.endswith(b'"}') and list(loads(v))[-1] == "hash"
               for v in many.seal_many([{"type": "ack", "z": 1}]))


def test_an_event_that_cannot_be_serialised_seals_nothing() -> None:
    chain = AuditChain("w1")
    chain.seal_many([{"type": "ack"}])
    head = chain.head
    with pytest.raises(TypeError):
        chain.seal_many([{"type": "ack"}, {"type": "ack", "when": object()}])
    assert chain.head == head


def test_a_templated_event_seals_to_the_bytes_of_its_dict() -> None:
    """The chain fills a Templated event's slots and un-doubles its other `%`s."""
    event = {"type": "ack", "at": 7, "note": '100% "done"', "zz": None}
    template = (b'{"at":7,"note":"100%% \\"done\\"",' + PREV_HASH_SLOT.encode() + b","
                + SEQ_SLOT.encode() + b',"type":"ack","zz":null')
    for producer in ("w1", 'h/"%s"'):
        templated, plain = AuditChain(producer), AuditChain(producer)
        got = templated.seal_many([("ack", template), event, ("ack", template)])
        assert got == plain.seal_many([event, event, event])
        assert templated.head == plain.head
