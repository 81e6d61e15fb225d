"""The watchlist as every worker holds it: commands applied in batches to a WatchlistIndex,
and what a hit or an audit event needs of an entry (an `EntryView`: everything but its key).

No identifier and no Python object per entry stay in memory: an entry is its key's two
keyed hashes and a few codes in the index's arrays (`tables/index.py`). An entry's full
command (its key included) is on the watchlist topic and in the audit trail.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from schemas import watchlist_batch as batch_op
from schemas.normalize import DOC_TYPES, ID_TYPE_CODES, canonical_plate
from schemas.scope import Scope
from schemas.watchlist import SUBJECT_TYPES, WatchlistDelete, WatchlistEntry
from schemas.watchlist_batch import CommandBatch
from tables import index, scope, scope_table
from tables.apply import DELETE, NO_ENTRY, UPSERT
from tables.index import WatchlistIndex, key_words
from tables.locations import LocationDirectory
from tables.scope_table import ScopeTable

# Key spaces: a record matches an entry only within one space, so a MAC never equals an
# e-tag with the same characters and an exact plate entry never matches through the OCR
# classes. Device spaces are the binary batch's id_type codes (1-4).
PLATE_SPACE = 5
PLATE_OCR_SPACE = 6
DOC_SPACES: dict[str, int] = {t: 7 + i for i, t in enumerate(DOC_TYPES)}
SUBJECTS: dict[int, tuple[str, str]] = {
    **{code: ("device", kind) for kind, code in ID_TYPE_CODES.items()},
    PLATE_SPACE: ("plate", ""), PLATE_OCR_SPACE: ("plate", ""),
    **{space: ("document", kind) for kind, space in DOC_SPACES.items()},
}
# Key space of an upsert row of a decoded batch: (subject code, kind, OCR-tolerant).
_SPACE_OF: dict[tuple[int, str, bool], int] = {
    **{(SUBJECT_TYPES.index("device"), kind, False): code for kind, code in ID_TYPE_CODES.items()},
    **{(SUBJECT_TYPES.index("document"), kind, False): space
       for kind, space in DOC_SPACES.items()},
    (SUBJECT_TYPES.index("plate"), "", False): PLATE_SPACE,
    (SUBJECT_TYPES.index("plate"), "", True): PLATE_OCR_SPACE,
}
# attrs of an entry in the index (56 bits): list code (16) | priority (4) << 16 |
# partition (12) << 20 | scope id (24) << 32.
_PRIORITY_SHIFT, _PARTITION_SHIFT, _SCOPE_SHIFT = 16, 20, 32
MAX_LISTS, MAX_PARTITIONS, MAX_SCOPES = 1 << 16, 1 << 12, 1 << 24


def entry_space_and_key(entry: WatchlistEntry) -> tuple[int, str]:
    """Return the key space and key `entry` is indexed under (canonical when OCR-tolerant)."""
    if entry.subject_type == "device":
        return ID_TYPE_CODES[entry.kind], entry.key
    if entry.subject_type == "document":
        return DOC_SPACES[entry.kind], entry.key
    if entry.match == "ocr-tolerant":
        return PLATE_OCR_SPACE, canonical_plate(entry.key)
    return PLATE_SPACE, entry.key


@dataclass(frozen=True, slots=True)
class EntryView:
    """What a worker knows of an entry: all of its command but the key and the texts."""

    entry_id: str
    list: str
    subject_type: str
    kind: str
    match: str
    priority: int
    expires_at: int
    partition: int
    scope: Scope | None = None


@dataclass(frozen=True, slots=True)
class Gone:
    """A compaction tombstone: the entry with this id is gone (nobody named for it)."""

    entry_id: str


Command = WatchlistEntry | WatchlistDelete | Gone


class Watchlist:
    """The entries every worker holds, and matching against them.

    `secret` keys the index's hashes (a random one per process by default: each worker
    builds its own index, so nothing needs to agree on it; a checkpoint is only reused
    under the secret it was made with); `hash_bits` < 64 is a test mode.
    """

    def __init__(self, secret: bytes | None = None, hash_bits: int = 64,
                 locations: LocationDirectory | None = None) -> None:
        self.secret = secret or secrets.token_bytes(16)
        self._index = WatchlistIndex(self.secret, hash_bits)
        self._scopes = ScopeTable(locations if locations is not None else LocationDirectory())
        # Key matches dropped as out of their entry's scope, since the start (the record
        # agents export the growth per batch).
        self.out_of_scope = 0
        self._list_names: list[str] = []
        self._list_codes: dict[str, int] = {}
        self._per_list = np.zeros(16, np.int64)

    def __len__(self) -> int:
        return len(self._index)

    @property
    def index(self) -> WatchlistIndex:
        """The index (for checkpoints and benchmarks)."""
        return self._index

    @property
    def list_names(self) -> list[str]:
        """List names by code (a checkpoint keeps them beside the index)."""
        return list(self._list_names)

    @property
    def scopes(self) -> list[Scope | None]:
        """Scopes by id (a checkpoint keeps them beside the index)."""
        return self._scopes.scopes

    @property
    def nbytes(self) -> int:
        """Bytes held by the index."""
        return self._index.nbytes

    def entries_by_list(self) -> dict[str, int]:
        """Return how many entries each list holds (lists seen before and now empty: 0)."""
        return {name: int(self._per_list[code]) for code, name in enumerate(self._list_names)}

    def clear(self) -> None:
        """Forget every entry at once (the log they were read from is gone)."""
        self._index.clear()
        self._scopes.clear()
        self._per_list[:] = 0

    def restore(self, list_names: Sequence[str], scopes: Sequence[Scope | None]) -> None:
        """Recount the lists after the index took over a checkpoint with these list names
        and scopes (by id)."""
        self._scopes.clear()
        for scope_id, held in enumerate(scopes):
            if self._scopes.add(held) != scope_id and held is not None:
                raise ValueError("a checkpoint's scopes must be distinct, by id")
        self._list_names = list(list_names)
        self._list_codes = {name: code for code, name in enumerate(self._list_names)}
        self._per_list = np.zeros(max(16, len(self._list_names)), np.int64)
        codes = self._index.refs(self._index.live_slots()) >> np.uint64(8) & np.uint64(0xFFFF)
        counts = np.bincount(codes.astype(np.int64), minlength=len(self._per_list))
        self._per_list[: len(counts)] = counts

    def _list_code(self, name: str) -> int:
        code = self._list_codes.get(name)
        if code is None:
            if len(self._list_names) >= MAX_LISTS:
                raise OverflowError(f"more than {MAX_LISTS} lists")
            code = self._list_codes[name] = len(self._list_names)
            self._list_names.append(name)
            if code >= len(self._per_list):
                self._per_list = np.concatenate([self._per_list, np.zeros_like(self._per_list)])
        return code

    def _scope_id(self, scope: Scope | None) -> int:
        scope_id = self._scopes.add(scope)
        if scope_id >= MAX_SCOPES:
            raise OverflowError(f"more than {MAX_SCOPES} distinct scopes")
        return scope_id

    def _attrs_of(self, list_name: str, priority: int, partition: int, scope: Scope | None
                  ) -> int:
        if not 0 <= partition < MAX_PARTITIONS:
            raise ValueError(f"partition {partition} outside [0, {MAX_PARTITIONS})")
        return (self._list_code(list_name) | priority << _PRIORITY_SHIFT
                | partition << _PARTITION_SHIFT | self._scope_id(scope) << _SCOPE_SHIFT)

    def apply(self, commands: Sequence[Command], partitions: Sequence[int] | None = None
              ) -> np.ndarray:
        """Apply commands in order (`partitions[i]`: the topic partition command i came
        from, 0 by default); return per command whether it found an entry by its id."""
        n = len(commands)
        ops = np.full(n, DELETE, np.uint8)
        ids, spaces, keys = [], np.ones(n, np.uint8), [b"-"] * n
        expires, attrs = np.zeros(n, np.int64), np.zeros(n, np.uint64)
        exact: dict[int, bytes] = {}
        parts = partitions if partitions is not None else [0] * n
        for i, command in enumerate(commands):
            ids.append(command.entry_id.encode("utf-8"))
            if isinstance(command, WatchlistEntry):
                ops[i] = UPSERT
                space, key = entry_space_and_key(command)
                spaces[i], keys[i], expires[i] = space, key.encode("utf-8"), command.expires_at
                attrs[i] = self._attrs_of(command.list, command.priority, parts[i],
                                          command.scope)
                if space == PLATE_OCR_SPACE:
                    exact[i] = command.key.encode("utf-8")
        return self._apply(ops, ids, spaces, key_words(keys), expires, attrs, exact)

    def apply_batch(self, batch: CommandBatch, partitions: Sequence[int]) -> None:
        """Apply a decoded batch in order (`partitions[i]`: the topic partition of row i):
        upserts, deletes and tombstones; rejected and ignored rows change nothing. Built
        from the batch's columns, with no command object per row."""
        rows = np.flatnonzero((batch.op == batch_op.UPSERT) | (batch.op == batch_op.DELETE)
                              | (batch.op == batch_op.TOMBSTONE))
        upserts = batch.op[rows] == batch_op.UPSERT
        ops = np.where(upserts, UPSERT, DELETE).astype(np.uint8)
        rows_list = rows.tolist()
        ids = [batch.entry_id[i].encode("utf-8") for i in rows_list]  # type: ignore[union-attr]
        keys = [batch.key[i].encode("utf-8") for i in rows_list]
        space_of = _SPACE_OF.get
        spaces = np.fromiter(
            (space_of((s, batch.kind[i], o), 1) for s, i, o in
             zip(batch.subject[rows].tolist(), rows_list, batch.ocr[rows].tolist(), strict=True)),
            np.uint8, len(rows))
        exact = {}
        for j in np.flatnonzero(spaces == PLATE_OCR_SPACE).tolist():
            exact[j] = keys[j]
            keys[j] = canonical_plate(batch.key[rows_list[j]]).encode("utf-8")
        names = [batch.list_name[i] for i in rows_list]
        for name in set(names) - self._list_codes.keys():
            if name:  # a delete's row has none
                self._list_code(name)
        codes = self._list_codes.get
        attrs = (np.fromiter((codes(name, 0) for name in names), np.uint64, len(rows))
                 | batch.priority[rows].astype(np.uint64) << np.uint64(_PRIORITY_SHIFT))
        parts = np.asarray(partitions, np.uint64)[rows]
        if len(parts) and int(parts.max()) >= MAX_PARTITIONS:
            raise ValueError(f"a partition outside [0, {MAX_PARTITIONS})")
        attrs |= parts << np.uint64(_PARTITION_SHIFT)
        for i, command in batch.decoded.items():  # the few rows decoded one by one
            if isinstance(command, WatchlistEntry) and command.scope is not None:
                j = int(np.searchsorted(rows, i))
                attrs[j] |= np.uint64(self._scope_id(command.scope) << _SCOPE_SHIFT)
        self._apply(ops, ids, spaces, key_words(keys), batch.expires_at[rows], attrs, exact)

    def _apply(self, ops: np.ndarray, ids: list[bytes], spaces: np.ndarray, words: np.ndarray,
               expires: np.ndarray, attrs: np.ndarray, exact: dict[int, bytes]) -> np.ndarray:
        aux = np.zeros(len(ops), np.uint64)
        if exact:
            rows = np.fromiter(exact, np.int64, len(exact))
            aux[rows] = self.exact_plate_hashes(key_words(list(exact.values())))
        before = self._index.apply(ops, ids, spaces, words, expires, attrs, aux)
        # Counts per list: every entry found leaves its list, every upsert joins one.
        found = before != NO_ENTRY
        left = (before[found] >> np.uint64(8)) & np.uint64(0xFFFF)
        joined = attrs[ops == UPSERT] & np.uint64(0xFFFF)
        size = len(self._per_list)
        self._per_list -= np.bincount(left.astype(np.int64), minlength=size)[:size]
        self._per_list += np.bincount(joined.astype(np.int64), minlength=size)[:size]
        return found

    def exact_plate_hashes(self, words: np.ndarray) -> np.ndarray:
        """Confirmation hashes of normalised plates as exact keys (what an OCR-tolerant
        entry keeps of its own key, to tell an exact read from one through the classes)."""
        return self._index.hashes(np.full(len(words), PLATE_SPACE, np.uint8), words)[1]

    def upsert(self, entry: WatchlistEntry, partition: int = 0) -> bool:
        """Insert or replace `entry`; return whether it replaced one."""
        return bool(self.apply([entry], [partition])[0])

    def delete(self, entry_id: str) -> bool:
        """Remove the entry with `entry_id`; return whether there was one."""
        return bool(self.apply([Gone(entry_id)])[0])

    def get(self, entry_id: str) -> EntryView | None:
        """Return what is known of the entry with `entry_id`, or None."""
        slot = int(self._index.slots_of([entry_id.encode("utf-8")])[0])
        return self.view(slot) if slot >= 0 else None

    def view(self, slot: int) -> EntryView:
        """Return the EntryView of the entry in `slot`."""
        space, attrs, expires_at, _ = self._index.entry(slot)
        subject_type, kind = SUBJECTS[space]
        return EntryView(
            entry_id=self._index.entry_id(slot), list=self._list_names[attrs & 0xFFFF],
            subject_type=subject_type, kind=kind,
            match="ocr-tolerant" if space == PLATE_OCR_SPACE else "exact",
            priority=(attrs >> _PRIORITY_SHIFT) & 0xF, expires_at=expires_at,
            partition=(attrs >> _PARTITION_SHIFT) & (MAX_PARTITIONS - 1),
            scope=self._scopes.scope(attrs >> _SCOPE_SHIFT))

    def match(self, spaces: np.ndarray, words: np.ndarray, now_ms: int, ts_ms: np.ndarray,
              location_of: Callable[[int], str]) -> list[tuple[int, EntryView]]:
        """Return (row, entry) for every key row equal to a live entry's key and in its
        scope, in row order and by entry id within a row: row r was observed at ts_ms[r]
        at location_of(r). Expiry is checked here, at match time, so no timer lag lets an
        expired entry hit."""
        rows, slots = self._index.match(spaces, words, now_ms)
        rows, slots = self._scoped(rows, slots, ts_ms, location_of)
        found = [(r, self.view(s)) for r, s in zip(rows.tolist(), slots.tolist(), strict=True)]
        found.sort(key=lambda pair: (pair[0], pair[1].entry_id))
        return found

    def _scoped(self, rows: np.ndarray, slots: np.ndarray, ts_ms: np.ndarray,
                location_of: Callable[[int], str]) -> tuple[np.ndarray, np.ndarray]:
        """Keep the matches in their entry's scope; count the others in `out_of_scope`."""
        scope_ids = self._index.refs(slots.astype(np.int64)) >> np.uint64(8 + _SCOPE_SHIFT)
        scoped = np.flatnonzero(scope_ids)
        if not len(scoped):
            return rows, slots
        keep = np.ones(len(rows), np.bool_)
        keep[scoped] = self._scopes.in_scope(
            scope_ids[scoped].astype(np.int64), np.asarray(ts_ms)[rows[scoped]],
            [location_of(int(r)) for r in rows[scoped]])
        self.out_of_scope += int(len(rows) - np.count_nonzero(keep))
        return rows[keep], slots[keep]

    def match_plates(self, exact: np.ndarray, canonical: np.ndarray, now_ms: int,
                     ts_ms: np.ndarray, location_of: Callable[[int], str]
                     ) -> list[tuple[int, EntryView, str]]:
        """Return (read, entry, rule) for plate reads (normalised key rows `exact`, their
        OCR-canonical rows `canonical`; read i observed at ts_ms[i] at location_of(i)):
        exact entries on the read, OCR-tolerant entries on its canonical form, in their
        scope; the rule `exact` when the read equals the entry's own key (told by the hash
        the entry keeps of it), by read and entry id."""
        n = len(exact)
        spaces = np.repeat(np.array([PLATE_SPACE, PLATE_OCR_SPACE], np.uint8), n)
        rows, slots = self._index.match(spaces, np.concatenate([exact, canonical]), now_ms)
        rows, slots = self._scoped(rows, slots, np.tile(np.asarray(ts_ms), 2),
                                   lambda r: location_of(r % n))
        if not len(rows):
            return []
        read_hashes = self.exact_plate_hashes(exact)
        found = []
        for r, s in zip(rows.tolist(), slots.tolist(), strict=True):
            exact_rule = r < n or self._index.entry(s)[3] == int(read_hashes[r - n])
            found.append((r % n, self.view(s), "exact" if exact_rule else "ocr-tolerant"))
        found.sort(key=lambda hit: (hit[0], hit[1].entry_id))
        return found

    def expired(self, now_ms: int) -> list[EntryView]:
        """Return the entries whose expires_at <= now_ms (still held until deleted)."""
        return [self.view(int(s)) for s in self._index.expired(now_ms)]


def warm_up() -> None:
    """Compile the kernels matching runs (or load them from numba's on-disk cache): the
    index's and the scope check's, so no worker stalls on a compilation mid-stream."""
    index.warm_up()
    scope_table.warm_up()
    scope.warm_up()
