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
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from typing import TypeVar

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
    failing_texts,
    normalized_keys,
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
T = TypeVar("T")
"""An item of a column."""
_NO_DOC: dict[str, object] = {}
_MATCHES = {
    "plate": (lambda v: v is None or (type(v) is str and v in MATCH_RULES)),
    "device": (lambda v: v is None or v == EXACT),
    "document": (lambda v: v is None or v == EXACT),
}
_KINDS_BY_CODE = sorted(KINDS)
_KIND_CODES = {pair: code for code, pair in enumerate(_KINDS_BY_CODE)}


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
    docs = _parse(values)
    upserts, deletes, others = _by_op(_column(docs, "op"))
    unsure: set[int] = set()
    if upserts or deletes:
        # A row of neither op stands in as a copy of the first command, and a delete as one
        # of the first upsert, so that each column stays whole and uniform: checked at
        # once. Their own columns are set below.
        first = (upserts or deletes)[0]
        commands = _replaced(docs, others, docs[first])
        ids, requesters = _column(commands, "entry_id"), _column(commands, "requested_by")
        unsure = (failing_ids(ids) | failing_keys(ids, _replaced(keys, others, keys[first]))
                  | failing_texts(requesters, MAX_REQUESTER_CHARS))
        batch.entry_id, batch.requested_by = ids, requesters  # type: ignore[assignment]
        if upserts:
            unsure |= _judge_upserts(batch, _replaced(commands, deletes, docs[upserts[0]]),
                                     timestamps_ms, max_ttl_days * MS_PER_DAY)
            _clear_upsert_columns(batch, [*deletes, *others])
        if deletes:
            reasons = [docs[i].get("reason") for i in deletes]
            unsure.update(deletes[j] for j in failing_texts(reasons, MAX_TEXT_CHARS))
            batch.op[deletes] = DELETE
            _scatter(batch.reason, deletes, reasons)
    if others:
        unsure.difference_update(others)
        _judge_others(batch, others, values, keys, unsure)
    if any(map(operator.contains, docs, repeat(_SCOPE))):
        unsure.update(i for i, doc in enumerate(docs) if _SCOPE in doc)
    for i in sorted(unsure):
        batch.put(i, decode_watchlist_command(values[i], keys[i], timestamps_ms[i],  # type: ignore[arg-type]
                                              max_ttl_days))
    return batch


def _judge_others(batch: CommandBatch, rows: list[int], values: Sequence[bytes | None],
                  keys: list[bytes | None], unsure: set[int]) -> None:
    """Set rows of neither op: tombstones, or (added to unsure) for the per-record decoder."""
    for i in rows:
        batch.entry_id[i], batch.requested_by[i] = None, ""
        key = keys[i]
        if values[i] is not None:
            unsure.add(i)
        elif key:  # a tombstone with an empty key names nothing
            batch.op[i] = TOMBSTONE
            batch.entry_id[i] = key.decode("utf-8", "replace")
        else:
            batch.op[i] = IGNORED


def _parse(values: Sequence[bytes | None]) -> list[dict]:
    """Return each value parsed, {} where it is no JSON object (or None)."""
    try:
        docs = loads_each(values)  # type: ignore[arg-type]
    except JSONDecodeError:  # also raised for a None
        docs = [_loads_or_none(v) for v in values]
    if set(map(type, docs)) != {dict}:
        docs = [doc if type(doc) is dict else _NO_DOC for doc in docs]
    return docs


def _loads_or_none(value: bytes | None) -> object:
    try:
        return loads(value)  # type: ignore[arg-type]
    except JSONDecodeError:
        return None


def _column(docs: list[dict], name: str) -> list[object]:
    return list(map(dict.get, docs, repeat(name)))


def _by_op(ops: list[object]) -> tuple[list[int], list[int], list[int]]:
    """Split the rows into upserts, deletes and others."""
    n = len(ops)
    if ops.count("upsert") == n:
        return list(range(n)), [], []
    upserts = [i for i, op in enumerate(ops) if op == "upsert"]
    deletes = [i for i, op in enumerate(ops) if op == "delete"]
    if len(upserts) + len(deletes) == n:
        return upserts, deletes, []
    return upserts, deletes, sorted(set(range(n)).difference(upserts, deletes))


def _replaced(items: list[T], rows: list[int], stand_in: T) -> list[T]:
    """Return items with the ones at rows replaced by stand_in."""
    if not rows:
        return items
    items = list(items)
    for i in rows:
        items[i] = stand_in
    return items


def _scatter(target: list, rows: Sequence[int], values: Sequence[object]) -> None:
    """Set target[rows[j]] = values[j] for every j."""
    deque(map(target.__setitem__, rows, values), maxlen=0)


def _clear_upsert_columns(batch: CommandBatch, rows: list[int]) -> None:
    """Set the upsert columns of rows back to their filler."""
    if not rows:
        return
    batch.subject[rows] = batch.priority[rows] = batch.expires_at[rows] = batch.ocr[rows] = 0
    for i in rows:
        batch.kind[i] = batch.key[i] = batch.list_name[i] = batch.legal_basis[i] = ""


def _judge_upserts(batch: CommandBatch, docs: list[dict], timestamps_ms: Sequence[int],
                   max_ttl_ms: int) -> set[int]:
    """Fill every row of the upsert columns; return the rows whose fields the checks are
    not sure about (their columns hold anything: the per-record verdict replaces them)."""
    column = partial(_column, docs)
    priorities, lists, legal_bases = column("priority"), column("list"), column("legal_basis")
    expires_at, late = expiries(column("expires_at"), timestamps_ms, max_ttl_ms)
    unsure = (failing(lists, is_valid_name) | failing_ints(priorities, 1, 3)
              | failing_texts(legal_bases, MAX_TEXT_CHARS) | late)
    subject, kind, key, ocr, unsure_keys = _match_keys(docs, column("subject_type"))
    unsure |= unsure_keys
    if unsure:
        priorities = [0 if j in unsure else p for j, p in enumerate(priorities)]
    batch.op[:] = UPSERT
    batch.subject, batch.kind, batch.key, batch.ocr = subject, kind, key, ocr  # type: ignore[assignment]
    batch.list_name, batch.legal_basis = lists, legal_bases  # type: ignore[assignment]
    batch.priority = np.array(priorities, np.uint8)
    batch.expires_at = expires_at
    return unsure


def _match_keys(docs: list[dict], subjects: list[object]
                ) -> tuple[np.ndarray, list[object], list[str], np.ndarray, Failing]:
    """Return the subject codes, kinds, normalised keys and ocr flags of upserts, and the
    positions not sure to pass the subject_type, kind, key and match rules."""
    n = len(docs)
    kinds = _kinds(docs, subjects)
    raw_keys, matches = _column(docs, "key"), _column(docs, "match")
    subject = np.zeros(n, np.uint8)
    ocr = np.zeros(n, bool)
    unsure: Failing = set()
    docss: dict[tuple[str, str], Sequence[int]] = {}
    if subjects.count(subjects[0]) == kinds.count(kinds[0]) == n:
        pair = (subjects[0], kinds[0])
        if type(pair[0]) is str and type(pair[1]) is str and pair in KINDS:
            docss[pair] = range(n)  # type: ignore[index]
        else:
            unsure.update(range(n))
    else:
        try:
            codes = np.array(list(map(_KIND_CODES.get, zip(subjects, kinds, strict=True),
                                      repeat(-1))))
        except TypeError:  # an array or object among them (unhashable, so no str)
            codes = np.array([_KIND_CODES.get((s, k), -1) if type(s) is str and type(k) is str
                              else -1 for s, k in zip(subjects, kinds, strict=True)])
        for code in np.unique(codes).tolist():
            members = np.flatnonzero(codes == code).tolist()
            if code < 0:
                unsure.update(members)
            else:
                docss[_KINDS_BY_CODE[code]] = members
    keys: list[str] = [""] * n
    for (subject_type, kind), members in docss.items():
        whole = len(members) == n
        these_keys, bad_keys = normalized_keys(
            subject_type, kind, raw_keys if whole else [raw_keys[j] for j in members])
        these_matches = matches if whole else [matches[j] for j in members]
        bad_keys |= failing(these_matches, _MATCHES[subject_type])
        unsure.update(members[j] for j in bad_keys)
        if whole:
            keys = these_keys
        else:
            _scatter(keys, members, these_keys)
        subject[slice(None) if whole else members] = SUBJECT_CODES[subject_type]
        if subject_type == "plate" and OCR_TOLERANT in these_matches:
            ocr[[members[j] for j, m in enumerate(these_matches) if m == OCR_TOLERANT]] = True
    return subject, kinds, keys, ocr, unsure


def _kinds(docs: list[dict], subjects: list[object]) -> list[object]:
    """Return each upsert's kind: its id_type or doc_type as given, "" for a plate."""
    first = subjects[0]
    if type(first) is str and subjects.count(first) == len(subjects):
        field = KIND_FIELDS.get(first)
        return [""] * len(docs) if field is None else _column(docs, field)
    id_types = _column(docs, KIND_FIELDS["device"])
    doc_types = _column(docs, KIND_FIELDS["document"])
    return [i if s == "device" else d if s == "document" else ""
            for s, i, d in zip(subjects, id_types, doc_types, strict=True)]
