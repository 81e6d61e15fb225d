"""WatchlistIndex: the in-memory matching structure, hashed keys in numba arrays.

Why this shape (measured with `vigil loadtest index-bench`; the numbers are in README):
- Linear probing by cache line over one flat array of 8-byte words (hash tag + entry
  slot), at most half full: a probe compares its tag with the 8 words of its home line at
  once and nearly always settles there, so a miss costs one line and a hit one more (the
  entry's metadata row). The whole batch goes through one numba call in
  passes that prefetch ahead, so the DRAM misses of many rows overlap and no Python runs
  per record.
- The table holds SipHash-2-4 values under a secret, not identifiers. A hash hit is
  confirmed against the entry's key words before it counts, so a collision never yields a
  false hit (tests force collisions with a tiny `hash_bits`).
- Updates are in place (backward-shift deletion, no tombstones), so an upsert or delete
  costs microseconds and the index never needs a full rebuild.

Memory: 8 bytes per table position at a load of 1/4 to 1/2 (16 to 32 bytes per entry), plus
a 32-byte metadata row per entry holding the expiry and, for keys of up to 16 bytes (MAC,
IMSI, IMEI, most plates and documents), the key itself; longer keys add their words.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from tables.entries import (
    INLINE_WORDS,
    META_COLS,
    NEVER_EXPIRES,
    compact_arena,
    entry_hashes,
    store_keys,
)
from tables.hashtable import MAX_SLOTS, delete_entry, table_insert_many, upsert_entry
from tables.keyhash import hash_keys
from tables.probe import match_keys
from tables.reference import split_secret

MAX_LOAD = 0.5
MIN_TABLE = 1024
LINE_BYTES = 64


def key_words(keys: Sequence[bytes], width: int | None = None) -> np.ndarray:
    """Pack byte strings into zero-padded rows of uint64 words (the kernels' key layout)."""
    longest = max((len(k) for k in keys), default=0)
    nwords = width if width is not None else max(1, -(-longest // 8))
    if longest > 8 * nwords:
        raise ValueError(f"key of {longest} bytes does not fit {nwords} words")
    packed = np.array(keys, dtype=f"S{8 * nwords}") if keys else np.zeros(0, f"S{8 * nwords}")
    return packed.view(np.uint64).reshape(len(keys), nwords)


def aligned_zeros(shape: int | tuple[int, ...], dtype: type = np.uint64) -> np.ndarray:
    """Zeroed array starting on a cache line, so a table line or a metadata row is one line."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = np.zeros(nbytes + LINE_BYTES, np.uint8)
    start = -buf.ctypes.data % LINE_BYTES
    return buf[start:start + nbytes].view(dtype).reshape(shape)


def _meta_rows(slots: int) -> np.ndarray:
    meta = aligned_zeros((slots, META_COLS))
    meta[:, 0] = NEVER_EXPIRES
    return meta


def _table_size(entries: int) -> int:
    size = MIN_TABLE
    while entries > MAX_LOAD * size:
        size *= 2
    return size


class WatchlistIndex:
    """Entries by id, matched by (key space, key) through keyed 64-bit hashes.

    `secret` keys the hash (any length; it is stretched to 128 bits). `hash_bits` below 64
    is a test mode that forces collisions.
    """

    def __init__(self, secret: bytes, hash_bits: int = 64) -> None:
        if not 1 <= hash_bits <= 64:
            raise ValueError("hash_bits must be within 1..64")
        k0, k1 = split_secret(hashlib.blake2b(secret, digest_size=16).digest())
        self._k0, self._k1 = np.uint64(k0), np.uint64(k1)
        self._mask = np.uint64((1 << hash_bits) - 1)
        self._slot_of: dict[str, int] = {}
        self._id_of: list[str | None] = []
        self._free: list[int] = []
        self._next_expiry = int(NEVER_EXPIRES)
        self._alloc(MIN_TABLE, 0, 0)

    def _alloc(self, table_size: int, slots: int, arena_words: int) -> None:
        self._table = aligned_zeros(table_size)
        self._meta = _meta_rows(slots)
        self._arena = np.zeros(arena_words, np.uint64)
        self._arena_used = 0
        self._arena_live = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, entry_id: str) -> bool:
        return entry_id in self._slot_of

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays (table, per-entry metadata, key arena)."""
        return self._table.nbytes + self._meta.nbytes + self._arena.nbytes

    @property
    def metadata_nbytes(self) -> int:
        """Bytes of per-entry metadata and key words (the confirmation side of the index)."""
        return self._meta.nbytes + self._arena.nbytes

    def entry_id(self, slot: int) -> str:
        """Return the id of the entry in `slot` (as returned by `match`)."""
        entry_id = self._id_of[slot]
        if entry_id is None:
            raise KeyError(slot)
        return entry_id

    def build(self, entry_ids: Sequence[str], spaces: np.ndarray, words: np.ndarray,
              expires_at: np.ndarray) -> None:
        """Replace the whole content with these entries at once (bulk load)."""
        n = len(entry_ids)
        if len(set(entry_ids)) != n:
            raise ValueError("entry ids must be unique")
        long_keys = np.count_nonzero(words[:, INLINE_WORDS:].any(axis=1))
        # Room for n/16 more entries, so that the first upserts after a bulk load do not copy
        # every metadata row at once.
        self._alloc(_table_size(n), n + n // 16 + 16, long_keys * words.shape[1])
        self._slot_of = {e: i for i, e in enumerate(entry_ids)}
        self._id_of = list(entry_ids)
        self._free = []
        spaces = np.ascontiguousarray(spaces, np.uint8)
        words = np.ascontiguousarray(words, np.uint64)
        used = store_keys(self._meta, self._arena, words, expires_at.astype(np.uint64), spaces)
        self._arena_used = self._arena_live = used
        hashes = np.empty(n, np.uint64)
        hash_keys(self._k0, self._k1, self._mask, spaces, words, hashes)
        table_insert_many(self._table, hashes, np.arange(n, dtype=np.uint64))
        self._next_expiry = int(expires_at.min()) if n else int(NEVER_EXPIRES)

    def upsert(self, entry_id: str, space: int, key: bytes, expires_at: int) -> None:
        """Insert or replace the entry `entry_id`: key bytes (no NUL) in key space `space`."""
        if not key or b"\0" in key:
            raise ValueError("a key is 1 or more bytes without NUL")
        old = self._slot_of.get(entry_id, -1)
        words = np.frombuffer(key.ljust(-(-len(key) // 8) * 8, b"\0"), np.uint64).reshape(1, -1)
        nwords = words.shape[1]
        if old < 0 and len(self._slot_of) + 1 > MAX_LOAD * len(self._table):
            self._grow_table()
        if nwords > INLINE_WORDS and self._arena_used + nwords > len(self._arena):
            self._make_arena_room(nwords)
        slot = self._free.pop() if self._free else self._new_slot()
        used, freed = upsert_entry(
            self._k0, self._k1, self._mask, self._table, self._meta, self._arena, old, slot,
            words, self._arena_used, expires_at, space)
        if old >= 0:
            self._release(old)
        self._arena_used += used
        self._arena_live += used - freed
        self._slot_of[entry_id] = slot
        self._id_of[slot] = entry_id
        self._next_expiry = min(self._next_expiry, expires_at)

    def delete(self, entry_id: str) -> bool:
        """Remove the entry `entry_id`; return False when there was none."""
        slot = self._slot_of.pop(entry_id, None)
        if slot is None:
            return False
        self._arena_live -= delete_entry(self._k0, self._k1, self._mask, self._table,
                                         self._meta, self._arena, slot)
        self._release(slot)
        return True

    def _release(self, slot: int) -> None:
        self._id_of[slot] = None
        self._free.append(slot)

    def match(self, spaces: np.ndarray, words: np.ndarray, now_ms: int
              ) -> tuple[np.ndarray, np.ndarray]:
        """Return (rows, slots): each key row that equals a live entry's key, with its slot.

        spaces: uint8 key space per row; words: (rows, n) uint64, zero-padded keys. Pairs come
        in row order; an entry is live while now_ms < its expires_at.
        """
        # One layout and dtype, so the kernel compiled by `warm_up` is the one that runs.
        spaces = np.ascontiguousarray(spaces, np.uint8)
        words = np.ascontiguousarray(words, np.uint64)
        rows = len(words)
        cap = max(16, rows)
        while True:
            out_rows = np.empty(cap, np.int64)
            out_slots = np.empty(cap, np.uint32)
            n = match_keys(self._k0, self._k1, self._mask, self._table, self._meta,
                           self._arena, spaces, words, np.uint64(now_ms), out_rows, out_slots)
            if n <= cap:
                return out_rows[:n], out_slots[:n]
            cap = n

    def expired(self, now_ms: int) -> list[str]:
        """Return the ids of entries whose expires_at <= now_ms (still held; delete them)."""
        if now_ms < self._next_expiry:
            return []
        expires = self._meta[: len(self._id_of), 0]
        due = np.flatnonzero(expires <= np.uint64(now_ms))
        later = expires[expires > np.uint64(now_ms)]
        self._next_expiry = int(later.min()) if len(later) else int(NEVER_EXPIRES)
        ids = [self._id_of[s] for s in due]
        return [i for i in ids if i is not None]

    def _new_slot(self) -> int:
        slot = len(self._id_of)
        if slot >= MAX_SLOTS:
            raise OverflowError("the index holds at most 2**31 entries")
        if slot >= len(self._meta):
            grown = _meta_rows(max(16, 2 * len(self._meta)))
            grown[: len(self._meta)] = self._meta
            self._meta = grown
        self._id_of.append(None)
        return slot

    def _grow_table(self) -> None:
        slots = np.fromiter(self._slot_of.values(), np.uint64, len(self._slot_of))
        hashes = np.empty(len(slots), np.uint64)
        entry_hashes(self._k0, self._k1, self._mask, self._meta, self._arena, slots, hashes)
        self._table = aligned_zeros(_table_size(len(self._slot_of) + 1))
        table_insert_many(self._table, hashes, slots)

    def _make_arena_room(self, nwords: int) -> None:
        # Compact when at least half the arena is garbage, else grow: amortised O(1) per key.
        size = max(64, len(self._arena))
        while self._arena_live + nwords > size // 2:
            size *= 2
        live = np.flatnonzero(self._meta[: len(self._id_of), 1]).astype(np.uint32)
        arena = np.zeros(size, np.uint64)
        self._arena_used = compact_arena(self._meta, self._arena, live, arena)
        self._arena = arena


def warm_up() -> None:
    """Compile every kernel (or load it from numba's on-disk cache) with the argument types
    the worker passes, so that a worker's first batches do not stall its event loop for the
    seconds a compilation takes."""
    index = WatchlistIndex(b"warm-up")
    index.build(["a", "b"], np.ones(2, np.uint8), key_words([b"a", b"bb"]),
                np.full(2, NEVER_EXPIRES, np.uint64))
    for i in range(MIN_TABLE):  # past MAX_LOAD: the table grows once
        index.upsert(f"u{i}", 1, f"u{i}".encode(), 1)
    index.upsert("long", 1, b"k" * 20, 1)  # a key in the arena
    for width in (1, 2, 3):
        index.match(np.ones(1, np.uint8), key_words([b"a"], width=width), 0)
    index.expired(2)
    index.delete("long")
