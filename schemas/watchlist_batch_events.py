"""The audit events of a batch of watchlist records, built from the batch decoder's columns.

A bulk load is audited at 10^5 commands a second and more; as dicts that orjson walks, with a
WatchlistEntry made first, each event would cost more than decoding its command. So the rows
the decoder's columns hold whole (an upsert without a scope, a delete, a compaction
tombstone) become templated events (schemas/audit.py `Templated`): the canonical JSON of the
event `watchlist_record_event` makes, joined a column at a time. Every other row (refused,
scoped, a record with neither key nor value) gets `watchlist_record_event`'s own event, so what
an event records is decided there, and the templates are checked against it
(tests/schemas/test_watchlist_batch_events.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from operator import attrgetter

import numpy as np

from schemas.audit import PREV_HASH_SLOT, SEQ_SLOT, Templated
from schemas.audit_events import Event, watchlist_record_event
from schemas.fetched import Fetched
from schemas.json import dumps
from schemas.watchlist import MATCH_RULES, SUBJECT_TYPES
from schemas.watchlist_batch import DELETE, TOMBSTONE, UPSERT, CommandBatch

CHANGE = "watchlist_change"
# Each op's event up to its closing brace, its keys sorted as in its canonical JSON: the
# values of columns go where _SLOT is (texts between quotes), the chain's in its slots.
_SLOT = "\x01"
_SOURCE = (',"source":{"offset":\x01,"partition":\x01,"topic":"\x01"},'
           '"type":"watchlist_change"')
_UPSERT = ('{"after":{"expires_at":\x01,"key":"\x01","kind":"\x01","list":"\x01","match":"\x01",'
           '"priority":\x01,"scope":null,"subject_type":"\x01"},"at":\x01,"entry_id":"\x01",'
           '"legal_basis":"\x01","op":"upsert",' + PREV_HASH_SLOT + ',"requested_by":"\x01",'
           + SEQ_SLOT + _SOURCE)
_DELETE = ('{"at":\x01,"entry_id":"\x01","op":"delete",' + PREV_HASH_SLOT
           + ',"reason":"\x01","requested_by":"\x01",' + SEQ_SLOT + _SOURCE)
_TOMBSTONE = ('{"at":\x01,"entry_id":"\x01","op":"tombstone",' + PREV_HASH_SLOT
              + ',"requested_by":null,' + SEQ_SLOT + _SOURCE)
# Every character a text is written with as itself: not a control character, `"` or `\`
# (orjson escapes those), nor `%` (a template doubles it). UTF-8 sequences are >= 0x80.
_AS_ITSELF = bytes(b for b in range(256) if b >= 0x20 and b not in b'"\\%')
_DECIMALS = tuple(map(str, range(256)))  # by value


def watchlist_batch_events(batch: CommandBatch, fetched: Fetched, at_ms: int
                           ) -> list[Event | Templated]:
    """Return the audit event of each record, in order, as `watchlist_record_event` makes it
    (templated where the columns hold the row whole): `batch` is the verdicts of `fetched`'s
    records (`decode_watchlist_batch`)."""
    n = len(batch)
    if not n:
        return []
    whole = np.ones(n, bool)
    whole[list(batch.decoded)] = False
    events: list[Event | Templated | None] = [None] * n
    for op, template, columns in ((UPSERT, _UPSERT, _upsert_columns),
                                  (DELETE, _DELETE, _delete_columns),
                                  (TOMBSTONE, _TOMBSTONE, _tombstone_columns)):
        rows = _Rows(np.flatnonzero((batch.op == op) & whole), n)
        if not rows.indices:
            continue
        filled = _filled(template, at_ms, len(rows.indices), [
            *columns(batch, rows), *_source_columns(rows, fetched)])
        if rows.every:  # a bulk load's chunk: all of one op
            return list(zip(repeat(CHANGE), filled, strict=False))
        for i, event in zip(rows.indices, filled, strict=True):
            events[i] = (CHANGE, event)
    for i, event in enumerate(events):
        if event is None:
            events[i] = watchlist_record_event(batch.command(i), fetched.records[i].key,
                                               fetched.source(i), at_ms)
    return events  # type: ignore[return-value]  # every row set


class _Rows:
    """Some rows of a batch, and their items of its columns as they go into a template's
    slots (`Column`)."""

    def __init__(self, rows: np.ndarray, n: int) -> None:
        self.array = rows
        self.indices: list[int] = rows.tolist()
        self.every = len(rows) == n

    def items(self, column: Sequence) -> list:
        """Return the rows' items of a list column."""
        return column if self.every else [column[i] for i in self.indices]  # type: ignore[return-value]

    def texts(self, column: Sequence[str]) -> Column:
        """Return the rows' texts of a text column."""
        return _texts(self.items(column))

    def names(self, codes: np.ndarray, names: Sequence[str]) -> Column:
        """Return the rows' names of a column of codes (`names` by code)."""
        picked = (codes if self.every else codes[self.array]).tolist()
        first = picked[0]
        return names[first] if picked.count(first) == len(picked) else list(
            map(names.__getitem__, picked))


Column = str | list[str]
"""What fills a template's slot, as JSON writes it: one value for every row, or each row's."""


def _upsert_columns(batch: CommandBatch, rows: _Rows) -> list[Column]:
    return [_decimals(rows.items(batch.expires_at.tolist())), rows.texts(batch.key),
            rows.texts(batch.kind), rows.texts(batch.list_name),
            rows.names(batch.ocr, MATCH_RULES), rows.names(batch.priority, _DECIMALS),
            rows.names(batch.subject, SUBJECT_TYPES), rows.texts(batch.entry_id),
            rows.texts(batch.legal_basis), rows.texts(batch.requested_by)]


def _delete_columns(batch: CommandBatch, rows: _Rows) -> list[Column]:
    return [rows.texts(batch.entry_id), rows.texts(batch.reason),
            rows.texts(batch.requested_by)]


def _tombstone_columns(batch: CommandBatch, rows: _Rows) -> list[Column]:
    return [rows.texts(batch.entry_id)]


def _source_columns(rows: _Rows, fetched: Fetched) -> list[Column]:
    """Return the offset, partition and topic columns of the rows' records."""
    offsets = list(map(attrgetter("offset"), rows.items(fetched.records)))
    return [_decimals(offsets), _decimals(list(rows.items(fetched.partitions))),
            _texts([fetched.topic])]


def _filled(template: str, at_ms: int, rows: int, columns: list[Column]) -> list[bytes]:
    """Return `template` (its time written in) with its slots filled from `columns`, for
    each of `rows` rows."""
    pieces = template.replace('"at":' + _SLOT, f'"at":{at_ms}').split(_SLOT)
    slots: list[Column] = [pieces[0]]  # the template's pieces, and the columns between them
    for column, piece in zip(columns, pieces[1:], strict=True):
        if type(column) is str:  # written into the template once
            slots[-1] += column + piece  # type: ignore[operator]
        else:
            slots += [column, piece]
    return list(map(str.encode, map("".join, zip(
        *(repeat(slot, rows) if type(slot) is str else slot for slot in slots), strict=False))))


def _texts(column: Sequence[str]) -> Column:
    """Return the texts as they go between their quotes in a template (`_escaped`)."""
    first = column[0]
    return _escaped([first])[0] if column.count(first) == len(column) else _escaped(column)


def _escaped(texts: Sequence[str]) -> list[str]:
    """Return each text as orjson escapes it, `%` doubled. The texts are checked at once;
    only when one needs it do they go through orjson (which raises JSONEncodeError for a
    lone surrogate, as for a dict event)."""
    try:
        plain = not "".join(texts).encode().translate(None, _AS_ITSELF)
    except UnicodeEncodeError:  # a lone surrogate among them
        plain = False
    if plain:
        return list(texts)
    return [dumps(text).decode()[1:-1].replace("%", "%%") for text in texts]


def _decimals(ints: list[int]) -> Column:
    """Return the ints as JSON writes them."""
    first = ints[0]
    return str(first) if ints.count(first) == len(ints) else list(map(str, ints))
