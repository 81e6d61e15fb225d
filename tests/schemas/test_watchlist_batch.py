"""The batch decoder against the per-record one: the same verdict for every record, and
columns that say the same."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import watchlist_batch
from schemas.json import dumps
from schemas.normalize import DOC_TYPES, ID_TYPES
from schemas.rejection import Rejected
from schemas.watchlist import (
    SUBJECT_TYPES,
    WatchlistDelete,
    WatchlistEntry,
    decode_watchlist_command,
)
from schemas.watchlist_batch import (
    DELETE,
    EXACT,
    IGNORED,
    OCR_TOLERANT,
    REJECTED,
    TOMBSTONE,
    UPSERT,
    CommandBatch,
    decode_watchlist_batch,
)
from schemas.watchlist_columns import KINDS

SETTINGS = settings(max_examples=300, deadline=None, database=None)
REFERENCE_MS = 1795000000000
DAY_MS = 86_400_000
TTL_DAYS = 90
DROP = object()

# Keys per (subject_type, kind): normalised ones (the column-wise path) and others the
# rule accepts (its fallback); then refused ones.
KEYS: dict[tuple[str, str], list[str]] = {
    ("device", "mac"): ["a45e60d1229f", "e00000000001", "A4:5E:60:D1:22:9F", "a4-5e-60-d1-22-9f",
                        "a45e.60d1.229f"],
    ("device", "imsi"): ["460001234567890", "460001234567891"],
    ("device", "imei"): ["356938035643809"],
    ("device", "etag"): ["E200341201", "e200abc", "Z", "E" * 32],
    ("plate", ""): ["鲁K12345", "ABC123", "X" * 16, "鲁k 12345", "ABC-123", "ab·12", "A.B",
                    "ß123", "Ａ１"],
    ("document", "national_id"): ["110105198507200001", "11010519850720001X",
                                  "11010519850720001x", "371002900101123",
                                  "1101 0519 8507 2000 01"],
    ("document", "passport"): ["E12345678", "e 1234 5678", "G1"],
    ("document", "other"): ["ZZ9", "zz 9", "Ω12"],
}
BAD_KEYS: dict[tuple[str, str], list[str]] = {
    ("device", "mac"): ["a45e60d1229", "g45e60d1229f", "a45e60d1229f0", ""],
    ("device", "imsi"): ["46000123456789", "4600012345678901", "46000123456789x",
                         "٤٦٠٠٠١٢٣٤٥٦٧٨٩٠"],
    ("device", "imei"): ["35693803564380 ", "3569380356438090"],
    ("device", "etag"): ["E" * 33, "AB-CD", "é1"],
    ("plate", ""): ["X" * 17, "   ", "-", ""],
    # The last: its check character is right if "A" counted as the digit 17.
    ("document", "national_id"): ["110105198507200002", "١١٠١٠٥١٩٨٥٠٧٢٠٠٠٠١X",
                                  "A1010519850720000X"],
    ("document", "passport"): ["X" * 33, " "],
    ("document", "other"): ["\u3000"],
}
KIND_FIELDS = {"device": "id_type", "document": "doc_type"}
IDS = ["W-1", "W-2026-000017", "鲁-1", "a b", "x" * 64, "W\u3000x", "W-\ufffd", "<W&1>"]
BAD_IDS = ["x" * 65, " W", "W ", "W/1", "W%1", "W\n", "", "W\u200b"]
GOOD = {
    "list": ["stolen-vehicles", "wanted-persons", "s" * 64, "0"],
    "match": [DROP, None, EXACT],
    "priority": [1, 2, 3],
    "legal_basis": ["case 2026-0417", " leading space", "x" * 500, "案件"],
    "requested_by": ["unit-17", "u" * 128, "\tu"],
    "reason": ["vehicle recovered", "r" * 500],
    "expires_at": [REFERENCE_MS + 1, REFERENCE_MS + DAY_MS, REFERENCE_MS + TTL_DAYS * DAY_MS,
                   "2026-11-19T19:06:40+08:00"],
}
BAD = {
    "op": ["UPSERT", "insert", None, 1, DROP],
    "entry_id": [*BAD_IDS, 17, None, DROP],
    "list": ["Stolen", "", "列表", "s" * 65, "-s", ["stolen"], None, DROP],
    "subject_type": ["vehicle", "Device", None, 1, DROP],
    "id_type": ["usb", "MAC", None, ["mac"], DROP],
    "doc_type": ["visa", None, DROP],
    "key": [12345, None, [], {"k": 1}, DROP],
    "match": [OCR_TOLERANT, "fuzzy", "EXACT", 1, [], {}],
    "priority": [0, 4, True, 2.0, "2", None, 2**63, DROP],
    "legal_basis": ["", " \t", "x" * 501, 1, None, DROP],
    "requested_by": ["", "   ", "u" * 129, 7, DROP],
    "reason": ["", "\u3000", "r" * 501, False, DROP],
    "expires_at": [REFERENCE_MS, REFERENCE_MS - 1, REFERENCE_MS + TTL_DAYS * DAY_MS + 1, -1,
                   2**53 + 1, 2**63, 1797592000000.0, True, "next month", None, DROP],
    "scope": [{"locations": ["C-0042"]}, None],
    "note": ["an unknown field is ignored"],
}
MALFORMED = [b"not json", b"[1, 2]", b'"upsert"', b"{", b"\xff", b"null", b"{}", b"", b"1e999"]


# One change to one record of a batch: a field of its command (DROP: removed), or its
# whole value, message key or timestamp.
CHANGES: dict[str, list[object]] = {
    **{field: BAD[field] + GOOD.get(field, []) for field in BAD},
    "entry_id": IDS + BAD["entry_id"],
    "subject_type": BAD["subject_type"] + list(SUBJECT_TYPES),
    "id_type": BAD["id_type"] + list(ID_TYPES),
    "doc_type": BAD["doc_type"] + list(DOC_TYPES),
    "key": BAD["key"] + sorted({k for keys in (*KEYS.values(), *BAD_KEYS.values()) for k in keys}),
    "match": BAD["match"] + [DROP, None, EXACT],
    "value": [*MALFORMED, None],
    "message key": [b"", b"W-other", b"W-\xff", None],
    "timestamp": [0, REFERENCE_MS + DAY_MS, 2**62, -(2**62), 2**63],
}
ALL_CHANGES = [(what, new) for what, news in CHANGES.items() for new in news]
Record = tuple[bytes | None, bytes | None, int]


def sometimes(draw: st.DrawFn, one_in: int) -> bool:
    """True once in `one_in` draws, evenly (st.integers favours its bounds)."""
    return draw(st.sampled_from([True] + [False] * (one_in - 1)))


@st.composite
def upsert(draw: st.DrawFn, entry_id: str) -> dict[str, object]:
    subject_type, kind = draw(st.sampled_from(sorted(KINDS)))
    doc: dict[str, object] = {"op": "upsert", "entry_id": entry_id,
                              "list": draw(st.sampled_from(GOOD["list"])),
                              "subject_type": subject_type}
    if subject_type in KIND_FIELDS:
        doc[KIND_FIELDS[subject_type]] = kind
    keys = BAD_KEYS[subject_type, kind] if sometimes(draw, 5) else KEYS[subject_type, kind]
    doc["key"] = draw(st.sampled_from(keys))
    for field in ("match", "priority", "legal_basis", "requested_by", "expires_at"):
        doc[field] = draw(st.sampled_from(GOOD[field]))
    if subject_type == "plate" and sometimes(draw, 2):
        doc["match"] = OCR_TOLERANT
    return {k: v for k, v in doc.items() if v is not DROP}


def delete(entry_id: str) -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries({
        "op": st.just("delete"), "entry_id": st.just(entry_id),
        "requested_by": st.sampled_from(GOOD["requested_by"]),
        "reason": st.sampled_from(GOOD["reason"])})


def command(entry_id: str) -> st.SearchStrategy[dict[str, object]]:
    return upsert(entry_id) | delete(entry_id)


def changed(doc: dict[str, object], key: bytes | None, timestamp: int, what: str, new: object
            ) -> Record:
    """The record of doc, with key and timestamp, after one change."""
    if what == "value":
        return new, key, timestamp  # type: ignore[return-value]
    if what == "message key":
        return dumps(doc), new, timestamp  # type: ignore[return-value]
    if what == "timestamp":
        return dumps(doc), key, new  # type: ignore[return-value]
    if what == "entry_id" and isinstance(new, str) and key is not None:
        key = new.encode()  # the id rule, not the key rule, is what this changes
    doc = {k: v for k, v in {**doc, what: new}.items() if v is not DROP}
    return dumps(doc), key, timestamp


def plain_id(i: int) -> str:
    return f"W-{i:06d}"


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[bytes | None], list[bytes | None], list[int], int]:
    """A batch of commands: mostly copies of one command (the column-wise paths) with a few
    changed, or all different ones."""
    if sometimes(draw, 3):
        docs = draw(st.lists(st.sampled_from(IDS).flatmap(command), max_size=30))
    else:
        base = draw(command("W-1"))
        docs = [{**base, "entry_id": plain_id(i)} for i in range(draw(st.integers(0, 40)))]
    no_keys = sometimes(draw, 3)
    changes = {draw(st.integers(0, len(docs) - 1)): draw(st.sampled_from(ALL_CHANGES))
               for _ in range(draw(st.integers(0, 4)) if docs else 0)}
    records = [changed(doc, None if no_keys else str(doc["entry_id"]).encode(), REFERENCE_MS,
                       *changes.get(i, ("timestamp", REFERENCE_MS)))
               for i, doc in enumerate(docs)]
    values, keys, timestamps = (list(c) for c in zip(*records, strict=True)) if records \
        else ([], [], [])
    return values, keys, timestamps, draw(st.sampled_from([TTL_DAYS] * 6 + [0, 10**17]))


def expected(value: bytes | None, key: bytes | None, timestamp: int, ttl_days: int
             ) -> WatchlistEntry | WatchlistDelete | Rejected | None:
    return None if value is None else decode_watchlist_command(value, key, timestamp, ttl_days)


def assert_row_agrees(batch: CommandBatch, i: int, command: object, key: bytes | None) -> None:
    """The columns of row i say what `command` (the per-record verdict) says."""
    upsert_columns = (batch.subject[i], batch.kind[i], batch.key[i], batch.ocr[i],
                      batch.list_name[i], batch.priority[i], batch.expires_at[i],
                      batch.legal_basis[i])
    if isinstance(command, WatchlistEntry):
        assert batch.op[i] == UPSERT
        assert upsert_columns == (
            SUBJECT_TYPES.index(command.subject_type), command.kind, command.key,
            command.match == OCR_TOLERANT, command.list, command.priority,
            command.expires_at, command.legal_basis)
    else:
        assert upsert_columns == (0, "", "", False, "", 0, 0, "")
    if isinstance(command, WatchlistDelete):
        assert (batch.op[i], batch.reason[i]) == (DELETE, command.reason)
    else:
        assert batch.reason[i] == ""
    if isinstance(command, WatchlistEntry | WatchlistDelete):
        assert (batch.entry_id[i], batch.requested_by[i]) == (command.entry_id,
                                                             command.requested_by)
        assert i not in batch.rejected
        return
    assert batch.requested_by[i] == ""
    if isinstance(command, Rejected):
        assert (batch.op[i], batch.entry_id[i]) == (REJECTED, None)
    elif key:
        assert (batch.op[i], batch.entry_id[i]) == (TOMBSTONE, key.decode("utf-8", "replace"))
    else:
        assert (batch.op[i], batch.entry_id[i]) == (IGNORED, None)


@SETTINGS
@given(batches())
def test_every_record_gets_the_per_record_verdict(
        batch_input: tuple[list[bytes | None], list[bytes | None], list[int], int]) -> None:
    values, keys, timestamps, ttl_days = batch_input
    batch = decode_watchlist_batch(values, keys, timestamps, ttl_days)
    assert len(batch) == len(values)
    for i, (value, key, timestamp) in enumerate(zip(values, keys, timestamps, strict=True)):
        command = expected(value, key, timestamp, ttl_days)
        assert batch.command(i) == command
        assert_row_agrees(batch, i, command, key)
    assert set(batch.rejected) == {i for i in range(len(batch)) if batch.op[i] == REJECTED}


def test_the_kinds_are_those_of_the_per_record_decoder() -> None:
    kinds = ({("device", t) for t in ID_TYPES} | {("plate", "")}
             | {("document", t) for t in DOC_TYPES})
    assert kinds == KINDS


def uniform_batch(doc: dict[str, object], n: int = 50) -> tuple[list[bytes], list[bytes]]:
    ids = [f"W-{i:06d}" for i in range(n)]
    return [dumps({**doc, "entry_id": e}) for e in ids], [e.encode() for e in ids]


WELL_FORMED = [
    {"op": "upsert", "list": "wanted-persons", "subject_type": "device", "id_type": "mac",
     "key": "e00000000001", "priority": 1, "legal_basis": "case 1", "requested_by": "unit-1",
     "expires_at": REFERENCE_MS + DAY_MS},
    {"op": "upsert", "list": "l", "subject_type": "device", "id_type": "imsi",
     "key": "460001234567890", "priority": 2, "legal_basis": "case 1", "requested_by": "u",
     "expires_at": REFERENCE_MS + DAY_MS},
    {"op": "upsert", "list": "l", "subject_type": "device", "id_type": "etag",
     "key": "e200abc", "priority": 3, "legal_basis": "case 1", "requested_by": "u",
     "expires_at": REFERENCE_MS + DAY_MS},
    {"op": "upsert", "list": "stolen-vehicles", "subject_type": "plate", "key": "鲁K12345",
     "match": OCR_TOLERANT, "priority": 2, "legal_basis": "case 2", "requested_by": "unit-17",
     "expires_at": REFERENCE_MS + DAY_MS},
    {"op": "upsert", "list": "l", "subject_type": "document", "doc_type": "national_id",
     "key": "11010519850720001X", "priority": 1, "legal_basis": "case 3", "requested_by": "u",
     "expires_at": REFERENCE_MS + DAY_MS},
    {"op": "delete", "requested_by": "unit-17", "reason": "vehicle recovered"},
]


@pytest.fixture
def per_record_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record the values the batch decoder hands to the per-record decoder."""
    calls: list[bytes] = []

    def spy(value: bytes, *args: object) -> object:
        calls.append(value)
        return decode_watchlist_command(value, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(watchlist_batch, "decode_watchlist_command", spy)
    return calls


@pytest.mark.parametrize("doc", WELL_FORMED, ids=lambda d: str(d.get("id_type", d["op"])))
def test_well_formed_batches_are_judged_column_wise(doc: dict[str, object],
                                                    per_record_calls: list[bytes]) -> None:
    # Guards the property test: were the column-wise path never taken, it would compare
    # the per-record decoder with itself.
    values, keys = uniform_batch(doc)
    batch = decode_watchlist_batch(values, keys, [REFERENCE_MS] * len(values), TTL_DAYS)
    assert per_record_calls == []
    assert batch.op.tolist() == [DELETE if doc["op"] == "delete" else UPSERT] * len(values)


@pytest.mark.parametrize("ttl_days", [TTL_DAYS, 10**17])
@pytest.mark.parametrize("doc", WELL_FORMED, ids=lambda d: str(d.get("id_type", d["op"])))
def test_each_change_to_one_record_of_a_uniform_batch(doc: dict[str, object],
                                                      ttl_days: int) -> None:
    # The changed record among copies; alone (then its column is uniform); first, before
    # tombstones (then it is what the other rows stand in as).
    tombstones = [(None, b"W-gone", REFERENCE_MS), (None, None, REFERENCE_MS)]
    for what, new in ALL_CHANGES:
        records = [changed({**doc, "entry_id": plain_id(i)}, plain_id(i).encode(), REFERENCE_MS,
                           *((what, new) if i == 7 else ("timestamp", REFERENCE_MS)))
                   for i in range(20)]
        for batch_records in (records, records[7:8], [*records[7:9], *tombstones]):
            values, keys, timestamps = (list(c) for c in zip(*batch_records, strict=True))
            batch = decode_watchlist_batch(values, keys, timestamps, ttl_days)
            for i, (value, key, timestamp) in enumerate(batch_records):
                command = expected(value, key, timestamp, ttl_days)
                assert batch.command(i) == command, (what, new)
                assert_row_agrees(batch, i, command, key)


def test_a_tombstone_deletes_the_entry_its_key_names() -> None:
    batch = decode_watchlist_batch([None] * 4, [b"W-1", b"W-\xff", b"", None], [0] * 4, TTL_DAYS)
    assert batch.op.tolist() == [TOMBSTONE, TOMBSTONE, IGNORED, IGNORED]
    assert batch.entry_id == ["W-1", "W-\ufffd", None, None]
    assert [batch.command(i) for i in range(4)] == [None] * 4 and batch.rejected == {}


def test_a_key_equal_to_the_entry_id_only_once_decoded_with_replacement() -> None:
    values, keys = uniform_batch(WELL_FORMED[0])
    values[2] = dumps({**WELL_FORMED[0], "entry_id": "W-\ufffd"})
    keys[2] = b"W-\xff"
    batch = decode_watchlist_batch(values, keys, [REFERENCE_MS] * len(values), TTL_DAYS)
    assert batch.op[2] == UPSERT and batch.entry_id[2] == "W-\ufffd"


def test_a_batch_of_every_kind_is_judged_column_wise(per_record_calls: list[bytes]) -> None:
    docs = [{**doc, "entry_id": plain_id(i)} for i, doc in enumerate(WELL_FORMED * 5)]
    values, keys = [dumps(d) for d in docs], [str(d["entry_id"]).encode() for d in docs]
    batch = decode_watchlist_batch(values, keys, [REFERENCE_MS] * len(values), TTL_DAYS)
    assert per_record_calls == []
    assert [batch.command(i) for i in range(len(batch))] == [
        decode_watchlist_command(v, k, REFERENCE_MS, TTL_DAYS)
        for v, k in zip(values, keys, strict=True)]


def test_expiries_at_both_bounds_are_judged_column_wise(per_record_calls: list[bytes]) -> None:
    values, keys = uniform_batch(WELL_FORMED[0], 4)
    bounds = [REFERENCE_MS + 1, REFERENCE_MS + TTL_DAYS * DAY_MS]
    values = [v.replace(b"%d" % (REFERENCE_MS + DAY_MS), b"%d" % bounds[i % 2])
              for i, v in enumerate(values)]
    batch = decode_watchlist_batch(values, keys, [REFERENCE_MS] * len(values), TTL_DAYS)
    assert per_record_calls == []
    assert batch.expires_at.tolist() == bounds * 2


def test_only_the_doubtful_rows_go_to_the_per_record_decoder(
        per_record_calls: list[bytes]) -> None:
    values, keys = uniform_batch(WELL_FORMED[0])
    values[3] = dumps({**WELL_FORMED[0], "entry_id": "W-000003", "scope": {"areas": ["x"]}})
    values[7] = values[7].replace(b'"priority":1', b'"priority":4')
    values[9] = None
    keys[11] = b"W-other"
    values[13] = b"not json"
    values[15] = dumps({**WELL_FORMED[-1], "entry_id": "W-000015"})
    batch = decode_watchlist_batch(values, keys, [REFERENCE_MS] * len(values), TTL_DAYS)
    assert per_record_calls == [values[i] for i in (3, 7, 11, 13)]
    assert [batch.op[i] for i in (3, 7, 9, 11, 13, 15)] == [
        UPSERT, REJECTED, TOMBSTONE, REJECTED, REJECTED, DELETE]
    assert batch.decoded == {3: batch.command(3)}
    assert [batch.rejected[i].reason for i in (7, 11, 13)] == [
        "bad_priority", "key_mismatch", "bad_json"]


def test_inputs_of_different_lengths_are_a_bug() -> None:
    with pytest.raises(ValueError, match="2 values, 1 keys"):
        decode_watchlist_batch([b"{}", b"{}"], [None], [0, 0], TTL_DAYS)
