"""The audit events of a batch built from the decoder's columns against the plain path: each
record judged alone, its event made by `watchlist_record_event`, sealed as a dict. The same
bytes, event for event, and the same chain head."""

from __future__ import annotations

from collections import namedtuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.audit import AuditChain
from schemas.audit_events import watchlist_record_event
from schemas.fetched import Fetched
from schemas.json import dumps
from schemas.scope import encode_scope
from schemas.watchlist import decode_watchlist_command
from schemas.watchlist_batch import DELETE, TOMBSTONE, UPSERT, decode_watchlist_batch
from schemas.watchlist_batch_events import watchlist_batch_events
from schemas.watchlist_columns import KINDS
from tests.schemas.fixtures import scopes
from tests.schemas.test_watchlist_batch import (
    ALL_CHANGES,
    IDS,
    KEYS,
    KIND_FIELDS,
    REFERENCE_MS,
    TTL_DAYS,
    changed,
)

SETTINGS = settings(max_examples=300, deadline=None, database=None)
DAY_MS = 86_400_000
Record = namedtuple("Record", "topic partition offset key value timestamp")

# What JSON escapes (quotes, backslashes, control characters), what a template doubles (%),
# and characters written raw as UTF-8.
SPECIAL = ['"', "\\", "%", "%s", "%d", "\x00", "\x01", "\n", "\x1f", "\x7f", "é", "鲁", "\u2028",
           "\U0001f600", "</script>"]
texts = st.lists(st.sampled_from(SPECIAL) | st.text(min_size=1, max_size=6), min_size=1,
                 max_size=4).map("".join)
ids = st.sampled_from([*IDS, 'W-"1"', "W-\\1", "W-é"]) | st.text(min_size=1, max_size=8)


@st.composite
def command(draw: st.DrawFn, entry_id: str) -> dict[str, object]:
    """An upsert (a scoped one now and then) or a delete, its texts from `texts`."""
    if draw(st.integers(0, 3)) == 0:
        return {"op": "delete", "entry_id": entry_id, "requested_by": draw(texts),
                "reason": draw(texts)}
    subject_type, kind = draw(st.sampled_from(sorted(KINDS)))
    doc: dict[str, object] = {
        "op": "upsert", "entry_id": entry_id, "subject_type": subject_type,
        "list": draw(st.sampled_from(["stolen-vehicles", "l", "a.b_c-9"])),
        "key": draw(st.sampled_from(KEYS[subject_type, kind])),
        "priority": draw(st.integers(1, 3)), "legal_basis": draw(texts),
        "requested_by": draw(texts),
        "expires_at": REFERENCE_MS + draw(st.integers(1, TTL_DAYS * DAY_MS))}
    if subject_type in KIND_FIELDS:
        doc[KIND_FIELDS[subject_type]] = kind
    if subject_type == "plate" and draw(st.booleans()):
        doc["match"] = "ocr-tolerant"
    if draw(st.integers(0, 5)) == 0:
        doc["scope"] = encode_scope(draw(scopes()))
    return doc


@st.composite
def records(draw: st.DrawFn) -> list[Record]:
    """Records of one or two partitions: copies of one command with ids of their own (a
    bulk load), or all different ones; some changed (most then refused), some tombstones
    and some with neither key nor value."""
    if draw(st.booleans()):
        base = draw(command("W-1"))
        docs = [{**base, "entry_id": f"W-{i}"} for i in range(draw(st.integers(0, 30)))]
    else:
        docs = draw(st.lists(ids.flatmap(command), max_size=20))
    made = []
    for doc in docs:
        key: bytes | None = str(doc["entry_id"]).encode()
        value, key, timestamp = changed(doc, key, REFERENCE_MS, *draw(
            st.sampled_from([("timestamp", REFERENCE_MS)] * 6 + ALL_CHANGES)))
        what = draw(st.integers(0, 15))
        if what == 0:
            value = None  # a tombstone of that key
        elif what == 1:
            value = key = None
        made.append((value, key, timestamp))
    partitions = draw(st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=2))
    topic = draw(st.sampled_from(["vigil.watchlist", 'a"b\\c%d']))
    start = draw(st.integers(0, 2**62))
    return [Record(topic, partitions[i * len(partitions) // max(1, len(made))], start + i, key,
                   value, timestamp) for i, (value, key, timestamp) in enumerate(made)]


def source(rec: Record) -> dict[str, object]:
    """Where a record came from, as the contract's audit events say it."""
    return {"topic": rec.topic, "partition": rec.partition, "offset": rec.offset}


def fetched(recs: list[Record]) -> Fetched:
    """The records as a lean reader hands them: where they came from said beside them."""
    topics = {r.topic for r in recs}
    return Fetched(topics.pop() if topics else "", recs, [r.partition for r in recs])


def reference_events(recs: list[Record], at_ms: int) -> list[dict]:
    """Each record judged alone and its event made as a dict: the plain path."""
    return [watchlist_record_event(
        None if rec.value is None else decode_watchlist_command(
            rec.value, rec.key, rec.timestamp, TTL_DAYS),
        rec.key, source(rec), at_ms) for rec in recs]


@SETTINGS
@given(records(), st.integers(0, 2**62), st.sampled_from(["w1", 'host/"x"\\%s', "é"]))
def test_events_seal_to_the_bytes_of_the_plain_path(recs: list[Record], at_ms: int,
                                                    producer: str) -> None:
    batch = decode_watchlist_batch([r.value for r in recs], [r.key for r in recs],
                                   [r.timestamp for r in recs], TTL_DAYS)
    events = watchlist_batch_events(batch, fetched(recs), at_ms)
    fast, plain = AuditChain(producer), AuditChain(producer)
    assert fast.seal_many(events) == plain.seal_many(reference_events(recs, at_ms))
    assert fast.head == plain.head
    # The rows the columns hold whole are the templated ones; the others are dicts.
    whole = [i for i in range(len(batch)) if batch.op[i] == TOMBSTONE or (
        batch.op[i] in (UPSERT, DELETE) and i not in batch.decoded)]
    assert [i for i, e in enumerate(events) if type(e) is tuple] == whole


def test_a_bulk_loads_chunk_is_templated_throughout() -> None:
    docs = [{"op": "upsert", "entry_id": f"W-{i}", "list": "l", "subject_type": "device",
             "id_type": "mac", "key": f"e0000000{i:04x}", "priority": 2,
             "legal_basis": 'case "7" \\ 100%', "requested_by": "unit\t17",
             "expires_at": REFERENCE_MS + DAY_MS} for i in range(50)]
    recs = [Record("vigil.watchlist", 3, 10**12 + i, str(d["entry_id"]).encode(), dumps(d),
                   REFERENCE_MS) for i, d in enumerate(docs)]
    batch = decode_watchlist_batch([r.value for r in recs], [r.key for r in recs],
                                   [r.timestamp for r in recs], TTL_DAYS)
    events = watchlist_batch_events(batch, fetched(recs), REFERENCE_MS + 5)
    assert {type(e) for e in events} == {tuple}
    assert AuditChain("w1").seal_many(events) == AuditChain("w1").seal_many(
        reference_events(recs, REFERENCE_MS + 5))


def test_a_text_orjson_cannot_write_raises_as_for_a_dict_event() -> None:
    recs = [Record("vigil.watchlist", 0, 0, b"W-1", None, REFERENCE_MS)]
    batch = decode_watchlist_batch([None], [b"W-1"], [REFERENCE_MS], TTL_DAYS)
    batch.entry_id[0] = "W-\ud800"  # no decoder makes one: the key is decoded with replacement
    with pytest.raises(TypeError):  # orjson's JSONEncodeError
        watchlist_batch_events(batch, fetched(recs), REFERENCE_MS)


def test_an_empty_batch_has_no_events() -> None:
    assert watchlist_batch_events(decode_watchlist_batch([], [], [], TTL_DAYS), fetched([]),
                                  0) == []
