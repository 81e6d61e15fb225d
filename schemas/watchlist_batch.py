"""Watchlist commands decoded a batch at a time, into columns.

A worker reads the whole compacted `vigil.watchlist` at every start (10^7 commands must take
under a minute), so the per-record decoder's Python call per field is too slow there. Here
each field is checked for the whole batch at once (schemas/watchlist_columns.py), and every
command a column check is not sure about (every one that is rejected, any with a `scope`)
goes to `decode_watchlist_command` itself: each record gets exactly its verdict, with the
same reason, and its rules live in one place.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from itertools import repeat

import numpy as np

from schemas.identifiers import is_valid_name
from schemas.json import JSONDecodeError, loads, loads_each
from schemas.rejection import Rejected
from schemas.watchlist import (
    KIND_FIELDS,
    MATCH_RULES,
    MAX_REQUESTER_CHARS,
    MAX_TEXT_CHARS,
    MS_PER_DAY,
    SUBJECT_TYPES,
    WatchlistDelete,
    WatchlistEntry,
    decode_watchlist_command,
)
from schemas.watchlist_columns import (
    KINDS,
    Failing,
    expiries,
    failing,
    failing_ids,
    failing_ints,
    failing_keys,
    normalized_keys,
    text,
)

# What a row of a CommandBatch is (its `op`).
REJECTED = 0
UPSERT = 1
DELETE = 2
TOMBSTONE = 3
"""A compaction tombstone (no value): delete the entry its message key names."""
IGNORED = 4
"""No value and no key: nothing to apply, and nothing to dead-letter."""

SUBJECT_CODES: dict[str, int] = {s: code for code, s in enumerate(SUBJECT_TYPES)}
"""subject_type by its code in CommandBatch.subject: device 0, plate 1, document 2."""
EXACT, OCR_TOLERANT = MATCH_RULES
# A field only the per-record decoder reads (contract v1.1 "Entry scope").
_SCOPE = "scope"
_NO_DOC: dict[str, object] = {}
_MATCHES = {
    "plate": (lambda v: v is None or (type(v) is str and v in MATCH_RULES)),
    "device": (lambda v: v is None or v == EXACT),
    "document": (lambda v: v is None or v == EXACT),
}
_IS_TEXT = text(MAX_TEXT_CHARS)
_IS_REQUESTER = text(MAX_REQUESTER_CHARS)


@dataclass(eq=False, slots=True)
class CommandBatch:
    """Judged watchlist commands as columns, one row per input record, in input order.

    `op` (uint8) says what each row is: REJECTED (why: `rejected[row]`), UPSERT, DELETE,
    TOMBSTONE (entry_id from the message key) or IGNORED. `entry_id` is None for REJECTED
    and IGNORED rows. The upsert columns hold the entry's fields for UPSERT rows:
    `subject` (uint8, SUBJECT_CODES), `kind`, `key` (normalised), `ocr` (bool: match is
    ocr-tolerant), `list_name`, `priority` (uint8), `expires_at` (int64 epoch ms),
    `legal_basis`; `requested_by` for UPSERT and DELETE rows, `reason` for DELETE rows.
    Elsewhere they hold "", 0 or False.

    `decoded` holds the commands the per-record decoder accepted, as it built them: an
    entry with fields the columns lack (a scope) is whole only there, or from `command`.
    """

    op: np.ndarray
    entry_id: list[str | None]
    rejected: dict[int, Rejected]
    subject: np.ndarray
    kind: list[str]
    key: list[str]
    ocr: np.ndarray
    list_name: list[str]
    priority: np.ndarray
    expires_at: np.ndarray
    legal_basis: list[str]
    requested_by: list[str]
    reason: list[str]
    decoded: dict[int, WatchlistEntry | WatchlistDelete]

    @classmethod
    def empty(cls, n: int) -> CommandBatch:
        """Return n IGNORED rows, every column at its filler."""
        return cls(
            op=np.full(n, IGNORED, np.uint8), entry_id=[None] * n, rejected={},
            subject=np.zeros(n, np.uint8), kind=[""] * n, key=[""] * n,
            ocr=np.zeros(n, bool), list_name=[""] * n, priority=np.zeros(n, np.uint8),
            expires_at=np.zeros(n, np.int64), legal_basis=[""] * n, requested_by=[""] * n,
            reason=[""] * n, decoded={},
        )

    def __len__(self) -> int:
        return len(self.op)

    def command(self, i: int) -> WatchlistEntry | WatchlistDelete | Rejected | None:
        """Return row i as `decode_watchlist_command` gives it; None for a tombstone or an
        ignored row (for the audit and the dead letters)."""
        op = self.op[i]
        if op == REJECTED:
            return self.rejected[i]
        if op in (TOMBSTONE, IGNORED):
            return None
        if i in self.decoded:
            return self.decoded[i]
        entry_id = self.entry_id[i]
        assert entry_id is not None  # every UPSERT and DELETE row has one
        if op == DELETE:
            return WatchlistDelete(entry_id, self.requested_by[i], self.reason[i])
        return WatchlistEntry(
            entry_id, self.list_name[i], SUBJECT_TYPES[self.subject[i]], self.kind[i],
            self.key[i], OCR_TOLERANT if self.ocr[i] else EXACT, int(self.priority[i]),
            self.legal_basis[i], self.requested_by[i], int(self.expires_at[i]),
        )

    def put(self, i: int, command: WatchlistEntry | WatchlistDelete | Rejected) -> None:
        """Set row i to a command the per-record decoder judged, every column of it."""
        self.entry_id[i] = None if isinstance(command, Rejected) else command.entry_id
        self.subject[i] = self.priority[i] = self.expires_at[i] = self.ocr[i] = 0
        self.kind[i] = self.key[i] = self.list_name[i] = self.legal_basis[i] = ""
        self.requested_by[i] = self.reason[i] = ""
        if isinstance(command, Rejected):
            self.op[i] = REJECTED
            self.rejected[i] = command
            return
        self.decoded[i] = command
        self.requested_by[i] = command.requested_by
        if isinstance(command, WatchlistDelete):
            self.op[i] = DELETE
            self.reason[i] = command.reason
            return
        self.op[i] = UPSERT
        self.subject[i] = SUBJECT_CODES[command.subject_type]
        self.kind[i], self.key[i], self.list_name[i] = command.kind, command.key, command.list
        self.ocr[i] = command.match == OCR_TOLERANT
        self.priority[i], self.expires_at[i] = command.priority, command.expires_at
        self.legal_basis[i] = command.legal_basis


def decode_watchlist_batch(values: Sequence[bytes | None], keys: Sequence[bytes | None],
                           timestamps_ms: Sequence[int], max_ttl_days: int) -> CommandBatch:
    """Judge watchlist records (message values, keys and Kafka timestamps, as the reader
    fetched them) as `decode_watchlist_command(value, key, timestamp, max_ttl_days)` would
    one at a time; a value of None is a compaction tombstone (IGNORED without a key)."""
    n = len(values)
    if not len(keys) == len(timestamps_ms) == n:
        raise ValueError(f"{n} values, {len(keys)} keys, {len(timestamps_ms)} timestamps")
    keys = list(keys)
    batch = CommandBatch.empty(n)
    docs, odd = _parse(values)
    for i in odd:
        if values[i] is None and keys[i]:  # a tombstone with an empty key names nothing
            batch.op[i] = TOMBSTONE
            batch.entry_id[i] = keys[i].decode("utf-8", "replace")  # type: ignore[union-attr]
    upserts, deletes, others = _by_op(_column(docs, "op"))
    unsure = {i for i in others if values[i] is not None}
    if any(map(operator.contains, docs, repeat(_SCOPE))):
        unsure.update(i for i, doc in enumerate(docs) if _SCOPE in doc)
    if upserts:
        unsure |= _judge_upserts(batch, upserts, docs, keys, timestamps_ms,
                                 max_ttl_days * MS_PER_DAY)
    if deletes:
        unsure |= _judge_deletes(batch, deletes, docs, keys)
    for i in sorted(unsure):
        batch.put(i, decode_watchlist_command(values[i], keys[i], timestamps_ms[i],  # type: ignore[arg-type]
                                              max_ttl_days))
    return batch


def _parse(values: Sequence[bytes | None]) -> tuple[list[dict], list[int]]:
    """Return each value parsed ({} where it is no JSON object, or None), and those rows."""
    try:
        docs = loads_each(values)  # type: ignore[arg-type]
    except JSONDecodeError:  # also raised for a None
        docs = [_loads_or_none(v) for v in values]
    if set(map(type, docs)) == {dict}:
        return docs, []
    odd = [i for i, doc in enumerate(docs) if type(doc) is not dict]
    for i in odd:
        docs[i] = _NO_DOC
    return docs, odd


def _loads_or_none(value: bytes | None) -> object:
    try:
        return loads(value)  # type: ignore[arg-type]
    except JSONDecodeError:
        return None


def _column(docs: list[dict], name: str) -> list[object]:
    return list(map(dict.get, docs, repeat(name)))


def _by_op(ops: list[object]) -> tuple[Sequence[int], list[int], list[int]]:
    """Split the rows into upserts, deletes and others."""
    if ops.count("upsert") == len(ops):
        return range(len(ops)), [], []
    upserts: list[int] = []
    deletes: list[int] = []
    others: list[int] = []
    for i, op in enumerate(ops):
        (upserts if op == "upsert" else deletes if op == "delete" else others).append(i)
    return upserts, deletes, others


def _judge_deletes(batch: CommandBatch, rows: Sequence[int], docs: list[dict],
                   keys: list[bytes | None]) -> set[int]:
    """Fill the DELETE rows among rows; return the others."""
    group = [docs[i] for i in rows]
    ids, requesters, reasons = (_column(group, f) for f in ("entry_id", "requested_by", "reason"))
    unsure = (failing_ids(ids) | failing_keys(ids, [keys[i] for i in rows])
              | failing(requesters, _IS_REQUESTER) | failing(reasons, _IS_TEXT))
    for j, i in enumerate(rows):
        if j not in unsure:
            batch.op[i] = DELETE
            batch.entry_id[i], batch.requested_by[i], batch.reason[i] = (
                ids[j], requesters[j], reasons[j])  # type: ignore[assignment]
    return {rows[j] for j in unsure}


def _judge_upserts(batch: CommandBatch, rows: Sequence[int], docs: list[dict],
                   keys: list[bytes | None], timestamps_ms: Sequence[int], max_ttl_ms: int
                   ) -> set[int]:
    """Fill the rows as UPSERT rows; return those the checks are not sure about (their
    columns hold anything then: the per-record decoder's verdict replaces them)."""
    whole = len(rows) == len(docs)
    group = docs if whole else [docs[i] for i in rows]
    column = partial(_column, group)
    ids, subjects, priorities = column("entry_id"), column("subject_type"), column("priority")
    lists, legal_bases, requesters = column("list"), column("legal_basis"), column("requested_by")
    expires_at, late = expiries(column("expires_at"),
                                timestamps_ms if whole else [timestamps_ms[i] for i in rows],
                                max_ttl_ms)
    unsure = (failing_ids(ids) | failing_keys(ids, keys if whole else [keys[i] for i in rows])
              | failing(lists, is_valid_name)
              | failing_ints(priorities, 1, 3) | failing(legal_bases, _IS_TEXT)
              | failing(requesters, _IS_REQUESTER) | late)
    subject, kind, key, ocr, unsure_keys = _match_keys(group, subjects)
    unsure |= unsure_keys
    if unsure:
        priorities = [0 if j in unsure else p for j, p in enumerate(priorities)]
    if whole:
        batch.op[:] = UPSERT
        batch.entry_id, batch.subject, batch.kind, batch.key, batch.ocr = (
            ids, subject, kind, key, ocr)  # type: ignore[assignment]
        batch.list_name, batch.legal_basis, batch.requested_by = (
            lists, legal_bases, requesters)  # type: ignore[assignment]
        batch.priority = np.array(priorities, np.uint8)
        batch.expires_at = expires_at
        return unsure
    index = np.array(rows, np.intp)
    batch.op[index] = UPSERT
    batch.subject[index], batch.ocr[index] = subject, ocr
    batch.priority[index], batch.expires_at[index] = np.array(priorities, np.uint8), expires_at
    for name, values in (("entry_id", ids), ("kind", kind), ("key", key), ("list_name", lists),
                         ("legal_basis", legal_bases), ("requested_by", requesters)):
        target = getattr(batch, name)
        for i, value in zip(rows, values, strict=True):
            target[i] = value
    return {rows[j] for j in unsure}


def _match_keys(group: list[dict], subjects: list[object]
                ) -> tuple[np.ndarray, list[object], list[str], np.ndarray, Failing]:
    """Return the subject codes, kinds, normalised keys and ocr flags of upserts, and the
    positions not sure to pass the subject_type, kind, key and match rules."""
    n = len(group)
    kinds = _kinds(group, subjects)
    raw_keys, matches = _column(group, "key"), _column(group, "match")
    subject = np.zeros(n, np.uint8)
    ocr = np.zeros(n, bool)
    unsure: Failing = set()
    pair = (subjects[0], kinds[0])
    if (subjects.count(pair[0]) == kinds.count(pair[1]) == n and type(pair[0]) is str
            and type(pair[1]) is str and pair in KINDS):
        groups: dict[tuple[str, str], Sequence[int]] = {pair: range(n)}  # type: ignore[dict-item]
    else:
        groups = {}
        for j, s, k in zip(range(n), subjects, kinds, strict=True):
            if type(s) is str and type(k) is str and (s, k) in KINDS:
                groups.setdefault((s, k), []).append(j)  # type: ignore[attr-defined]
            else:
                unsure.add(j)
    keys: list[str] = [""] * n
    for (subject_type, kind), members in groups.items():
        whole = len(members) == n
        these_keys, bad_keys = normalized_keys(
            subject_type, kind, raw_keys if whole else [raw_keys[j] for j in members])
        these_matches = matches if whole else [matches[j] for j in members]
        bad_keys |= failing(these_matches, _MATCHES[subject_type])
        unsure.update(members[j] for j in bad_keys)
        if whole:
            keys = these_keys
        else:
            for j, key in zip(members, these_keys, strict=True):
                keys[j] = key
        subject[slice(None) if whole else members] = SUBJECT_CODES[subject_type]
        if subject_type == "plate" and OCR_TOLERANT in these_matches:
            ocr[[members[j] for j, m in enumerate(these_matches) if m == OCR_TOLERANT]] = True
    return subject, kinds, keys, ocr, unsure


def _kinds(group: list[dict], subjects: list[object]) -> list[object]:
    """Return each upsert's kind: its id_type or doc_type as given, "" for a plate."""
    first = subjects[0]
    if type(first) is str and subjects.count(first) == len(subjects):
        field = KIND_FIELDS.get(first)
        return [""] * len(group) if field is None else _column(group, field)
    return [(doc.get(KIND_FIELDS[s]) if s in KIND_FIELDS else "") if type(s) is str else None
            for s, doc in zip(subjects, group, strict=True)]
