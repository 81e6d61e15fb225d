"""WatchlistIndex: the in-memory matching structure, columns of hashes in numba arrays.

Why this shape (measured with `vigil loadtest index-bench` and `watchlist-bench`; figures in
docs/benchmarks.md):
- Linear probing by cache line over one flat array of 8-byte words (hash tag + entry
  slot), at most half full: a probe compares its tag with the 8 words of its home line at
  once and nearly always settles there, so a miss costs one line and a hit one more (the
  entry's metadata row). The whole batch goes through one numba call in passes that
  prefetch ahead, so the DRAM misses of many rows overlap and no Python runs per record.
- No identifier is kept: an entry is its key's table hash h1 (SipHash-2-4 under a secret)
  and a second, independent keyed hash h2; a probe counts only when both equal the
  record's (128 bits), so a collision of the table hash never yields a false hit (tests
  force them with a tiny `hash_bits`).
- No Python object per entry: ids live in a byte arena with their own hash table
  (`tables/idtable.py`), attributes in the entry's metadata row, so the garbage collector
  never walks the watchlist and 10^7 entries fit in about 100 bytes each.
- Commands apply in batches through one kernel call (`tables/apply.py`), in place
  (backward-shift deletion, no tombstones), so the index never needs a full rebuild.

Memory per entry: a 32-byte metadata row (expiry, attributes and key space, h1, h2), an
8-byte aux word, an 8-byte id reference and the id's bytes, 4 bytes in the id table at a
load of 1/4 to 1/2 (8 to 16 bytes) and 8 in the key table at the same load (16 to 32).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tables.apply import (
    DELETE,
    NO_ENTRY,
    STATE_FREE,
    STATE_ID_GARBAGE,
    STATE_ID_USED,
    STATE_LIVE,
    STATE_NEXT,
    UPSERT,
    apply_commands,
)
from tables.entries import EXPIRES, H1, META_COLS, NEVER_EXPIRES, REF, SPACE_BITS
from tables.hashtable import MAX_SLOTS, table_insert_many
from tables.idtable import ID_LEN_BITS, ID_LEN_MASK, id_compact, id_lookup, id_rebuild
from tables.index_arrays import (
    MAX_LOAD,
    MIN_TABLE,
    adopted,
    aligned_zeros,
    grown_array,
    power_of_two_for,
    room_for,
)
from tables.keyhash import hash_keys
from tables.probe import FULL_MASK, match_keys

# The arrays a checkpoint holds (`snapshot` / `restore`), beside the state counters.
ARRAYS = ("table", "meta", "aux", "id_ref", "id_arena", "ids", "free")


def key_words(keys: Sequence[bytes], width: int | None = None) -> np.ndarray:
    """Pack byte strings into zero-padded rows of uint64 words (the kernels' key layout)."""
    longest = max((len(k) for k in keys), default=0)
    nwords = width if width is not None else max(1, -(-longest // 8))
    if longest > 8 * nwords:
        raise ValueError(f"key of {longest} bytes does not fit {nwords} words")
    packed = np.array(keys, dtype=f"S{8 * nwords}") if keys else np.zeros(0, f"S{8 * nwords}")
    return packed.view(np.uint64).reshape(len(keys), nwords)


def id_buffer(entry_ids: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Return ids as one byte buffer and the offsets of each (len + 1 of them)."""
    offsets = np.zeros(len(entry_ids) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, entry_ids), np.int64, len(entry_ids)), out=offsets[1:])
    return np.frombuffer(b"".join(entry_ids), np.uint8), offsets


@dataclass(frozen=True)
class Room:
    """Arrays an index grew into (`WatchlistIndex.grown`), by name without the underscore;
    the id bytes in use once the arena is compacted; the index's write count they are of."""

    arrays: dict[str, np.ndarray]
    id_used: int
    writes: int


class WatchlistIndex:
    """Entries by id, matched by (key space, key) through two keyed 64-bit hashes.

    `secret` keys both hashes (any length; stretched to 256 bits). `hash_bits` below 64 cuts
    the table hash only: a test mode that forces table collisions, which the second hash
    then tells apart. Each entry carries 56 bits of caller `attrs` and an `aux` word.
    """

    def __init__(self, secret: bytes, hash_bits: int = 64) -> None:
        if not 1 <= hash_bits <= 64:
            raise ValueError("hash_bits must be within 1..64")
        keys = np.frombuffer(hashlib.blake2b(secret, digest_size=32).digest(), np.uint64)
        self._k0, self._k1, self._k2, self._k3 = (np.uint64(k) for k in keys)
        self._mask = np.uint64((1 << hash_bits) - 1)
        self._reset()

    def _reset(self) -> None:
        self._table = aligned_zeros(MIN_TABLE)
        self._meta = aligned_zeros((16, META_COLS))
        self._aux = np.zeros(16, np.uint64)
        self._id_ref = np.zeros(16, np.uint64)
        self._free = np.zeros(16, np.int64)
        self._id_arena = np.zeros(256, np.uint8)
        self._ids = np.zeros(2 * MIN_TABLE, np.uint32)
        self._state = np.zeros(5, np.int64)
        self._next_expiry = int(NEVER_EXPIRES)
        self._writes = getattr(self, "_writes", 0) + 1  # what `adopt` checks `grown` against

    def clear(self) -> None:
        """Forget every entry."""
        self._reset()

    def __len__(self) -> int:
        return int(self._state[STATE_LIVE])

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays."""
        return sum(getattr(self, f"_{name}").nbytes for name in ARRAYS)

    @property
    def table_nbytes(self) -> int:
        """Bytes of the key table alone (what a probe walks)."""
        return self._table.nbytes

    def hashes(self, spaces: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (table hash, confirmation hash) of every key row in its key space."""
        spaces = np.ascontiguousarray(spaces, np.uint8)
        words = np.ascontiguousarray(words, np.uint64)
        h1, h2 = np.empty(len(words), np.uint64), np.empty(len(words), np.uint64)
        hash_keys(self._k0, self._k1, self._mask, spaces, words, h1)
        hash_keys(self._k2, self._k3, FULL_MASK, spaces, words, h2)
        return h1, h2

    def apply(self, ops: np.ndarray, entry_ids: Sequence[bytes], spaces: np.ndarray,
              words: np.ndarray, expires_at: np.ndarray, attrs: np.ndarray,
              aux: np.ndarray) -> np.ndarray:
        """Apply commands in order: ops[i] UPSERT (id, key row in key space 1..255, expiry,
        attrs < 2**56, aux) or DELETE (only the id counts). Return, per command, the ref word
        (attrs << 8 | space) of the entry it found, or NO_ENTRY."""
        n = len(ops)
        ops = np.ascontiguousarray(ops, np.uint8)
        expires_at = np.ascontiguousarray(expires_at, np.int64)
        upserts = ops == UPSERT
        if np.any(np.asarray(spaces)[upserts] == 0):
            raise ValueError("key space 0 is reserved for free slots")
        h1, h2 = self.hashes(spaces, words)
        id_buf, id_offsets = id_buffer(entry_ids)
        self._make_room(int(np.count_nonzero(upserts)),
                        int(np.diff(id_offsets)[upserts].sum()))
        before = np.empty(n, np.uint64)
        self._writes += 1
        apply_commands(self._table, self._meta, self._aux, self._id_ref, self._id_arena,
                       self._ids, self._free, self._state, ops, id_buf, id_offsets,
                       np.ascontiguousarray(spaces, np.uint8), h1, h2, expires_at,
                       np.ascontiguousarray(attrs, np.uint64),
                       np.ascontiguousarray(aux, np.uint64), before)
        if upserts.any():
            self._next_expiry = min(self._next_expiry, int(np.min(expires_at[upserts])))
        return before

    def upsert(self, entry_id: str, space: int, key: bytes, expires_at: int, attrs: int = 0,
               aux: int = 0) -> int:
        """Insert or replace one entry; return the ref word it replaced, or NO_ENTRY."""
        if not key or b"\0" in key:
            raise ValueError("a key is 1 or more bytes without NUL")
        return int(self.apply(np.array([UPSERT], np.uint8), [entry_id.encode()],
                              np.array([space], np.uint8), key_words([key]),
                              np.array([expires_at], np.int64), np.array([attrs], np.uint64),
                              np.array([aux], np.uint64))[0])

    def delete(self, entry_id: str) -> bool:
        """Remove the entry `entry_id`; return False when there was none."""
        before = self.apply(np.array([DELETE], np.uint8), [entry_id.encode()],
                            np.ones(1, np.uint8), np.ones((1, 1), np.uint64),
                            np.zeros(1, np.int64), np.zeros(1, np.uint64), np.zeros(1, np.uint64))
        return bool(before[0] != NO_ENTRY)

    def build(self, entry_ids: Sequence[str], spaces: np.ndarray, words: np.ndarray,
              expires_at: np.ndarray) -> None:
        """Replace the whole content with these entries at once (bulk load)."""
        if len(set(entry_ids)) != len(entry_ids):
            raise ValueError("entry ids must be unique")
        self._reset()
        n = len(entry_ids)
        self.apply(np.full(n, UPSERT, np.uint8), [e.encode() for e in entry_ids], spaces, words,
                   np.asarray(expires_at, np.int64), np.zeros(n, np.uint64),
                   np.zeros(n, np.uint64))

    def slots_of(self, entry_ids: Sequence[bytes]) -> np.ndarray:
        """Return the slot of each id, or -1."""
        buf, offsets = id_buffer(entry_ids)
        out = np.empty(len(entry_ids), np.int64)
        id_lookup(self._ids, self._id_ref, self._id_arena, buf, offsets, out)
        return out

    def entry_id(self, slot: int) -> str:
        """Return the id of the entry in `slot` (as returned by `match`)."""
        ref = int(self._id_ref[slot])
        if ref == 0:
            raise KeyError(slot)
        offset, length = ref >> int(ID_LEN_BITS), ref & int(ID_LEN_MASK)
        return self._id_arena[offset:offset + length].tobytes().decode("utf-8")

    def entry(self, slot: int) -> tuple[int, int, int, int]:
        """Return (key space, attrs, expires_at, aux) of the entry in `slot`."""
        ref = int(self._meta[slot, REF])
        return (ref & 0xFF, ref >> 8, int(self._meta[slot, EXPIRES]), int(self._aux[slot]))

    def live_slots(self) -> np.ndarray:
        """Return the slots that hold an entry."""
        upto = int(self._state[STATE_NEXT])
        return np.flatnonzero(self._meta[:upto, REF] & SPACE_BITS)

    def refs(self, slots: np.ndarray) -> np.ndarray:
        """Return the ref words (attrs << 8 | space) of these slots."""
        return self._meta[slots, REF]

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
            n = match_keys(self._k0, self._k1, self._k2, self._k3, self._mask, self._table,
                           self._meta, spaces, words, np.uint64(now_ms), out_rows, out_slots)
            if n <= cap:
                return out_rows[:n], out_slots[:n]
            cap = n

    def expired(self, now_ms: int) -> np.ndarray:
        """Return the slots of entries whose expires_at <= now_ms (still held; delete them)."""
        if now_ms < self._next_expiry:
            return np.zeros(0, np.int64)
        upto = int(self._state[STATE_NEXT])
        live = (self._meta[:upto, REF] & SPACE_BITS) != 0
        expires = self._meta[:upto, EXPIRES]
        due = np.flatnonzero(live & (expires <= np.uint64(now_ms)))
        later = expires[live & (expires > np.uint64(now_ms))]
        self._next_expiry = int(later.min()) if len(later) else int(NEVER_EXPIRES)
        return due

    def snapshot(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """Return the arrays in use (views, valid until the next change) and the counters,
        for a checkpoint (`restore`)."""
        upto = int(self._state[STATE_NEXT])
        arrays = {"table": self._table, "ids": self._ids, "meta": self._meta[:upto],
                  "aux": self._aux[:upto], "id_ref": self._id_ref[:upto],
                  "free": self._free[: int(self._state[STATE_FREE])],
                  "id_arena": self._id_arena[: int(self._state[STATE_ID_USED])]}
        counters = {"next": upto, "free": int(self._state[STATE_FREE]),
                    "id_used": int(self._state[STATE_ID_USED]),
                    "id_garbage": int(self._state[STATE_ID_GARBAGE]),
                    "live": int(self._state[STATE_LIVE])}
        return arrays, counters

    def restore(self, arrays: Mapping[str, np.ndarray], counters: Mapping[str, int]) -> None:
        """Take over a `snapshot` made by an index with the same secret: arrays that already
        have room to grow and sit on cache lines (`RestoreBuffers`) as they are, any other
        copied into such an array."""
        self._reset()
        upto = counters["next"]
        rows = room_for("meta", upto)
        self._table = adopted(arrays["table"], len(arrays["table"]))
        self._ids = arrays["ids"]
        self._meta = adopted(arrays["meta"], rows)
        self._aux = adopted(arrays["aux"], rows)
        self._id_ref = adopted(arrays["id_ref"], rows)
        self._free = adopted(arrays["free"], rows)
        self._id_arena = adopted(arrays["id_arena"],
                                  room_for("id_arena", counters["id_used"]))
        self._writes += 1
        self._state[:] = (upto, counters["free"], counters["id_used"], counters["id_garbage"],
                          counters["live"])
        self._next_expiry = 0  # recomputed by the next `expired`

    def _make_room(self, upserts: int, id_bytes: int) -> None:
        """Size every array for `upserts` more entries holding `id_bytes` more id bytes."""
        if (room := self.grown(upserts, id_bytes)) is not None:
            self.adopt(room)

    def grown(self, upserts: int, id_bytes: int) -> Room | None:
        """Return the arrays that must grow for `upserts` more entries holding `id_bytes`
        more id bytes, built anew from the current ones, or None when all have room.

        It only reads the index (its kernels and numpy's copies release the GIL), so it may
        run in a thread while the event loop matches against the index as it is, as long as
        nothing writes the index meanwhile; `adopt` then puts the result in place at once.
        A national list's key table doubling (about a second at 10^7 entries) then does not
        hold matching."""
        growing = self.growing(upserts, id_bytes)
        live, upto = int(self._state[STATE_LIVE]), int(self._state[STATE_NEXT])
        arrays: dict[str, np.ndarray] = {}
        if "meta" in growing:
            rows = max(upto + upserts, len(self._meta) * 3 // 2)
            for name in ("meta", "aux", "id_ref", "free"):
                arrays[name] = grown_array(getattr(self, f"_{name}"), rows)
        meta, id_ref = arrays.get("meta", self._meta), arrays.get("id_ref", self._id_ref)
        if "table" in growing:
            table = aligned_zeros(power_of_two_for(live + upserts, len(self._table)))
            slots = np.flatnonzero(meta[:upto, REF] & SPACE_BITS)
            table_insert_many(table, meta[slots, H1], slots.astype(np.uint64))
            arrays["table"] = table
        if "ids" in growing:
            ids = np.zeros(power_of_two_for(live + upserts, len(self._ids)), np.uint32)
            id_rebuild(ids, id_ref, self._id_arena, upto)
            arrays["ids"] = ids
        used, garbage = int(self._state[STATE_ID_USED]), int(self._state[STATE_ID_GARBAGE])
        if "id_arena" in growing:
            # Compact into an arena at least twice what stays live: amortised O(1) per id,
            # and the spare half is never written (no memory) until ids fill it. The refs
            # are rewritten, so into a copy: the index in use keeps its own.
            arena = np.zeros(max(len(self._id_arena), 2 * (used - garbage + id_bytes)), np.uint8)
            if "id_ref" not in arrays:
                arrays["id_ref"] = id_ref = id_ref.copy()
            used = id_compact(id_ref, self._id_arena, upto, arena)
            arrays["id_arena"] = arena
        return Room(arrays, used, self._writes) if arrays else None

    def growing(self, upserts: int, id_bytes: int) -> frozenset[str]:
        """Return the names of the arrays (`ARRAYS`) that must grow for `upserts` more
        entries holding `id_bytes` more id bytes: empty when all have room (cheap)."""
        live, upto = int(self._state[STATE_LIVE]), int(self._state[STATE_NEXT])
        if upto + upserts > MAX_SLOTS:
            raise OverflowError("the index holds at most 2**31 entries")
        growing = set()
        if upto + upserts > len(self._meta):
            growing |= {"meta", "aux", "id_ref", "free"}
        if live + upserts > MAX_LOAD * len(self._table):
            growing.add("table")
        if live + upserts > MAX_LOAD * len(self._ids):
            growing.add("ids")
        if int(self._state[STATE_ID_USED]) + id_bytes > len(self._id_arena):
            growing.add("id_arena")
        return frozenset(growing)

    def adopt(self, room: Room) -> bool:
        """Put `room` (from `grown`) in place; return False, changing nothing, when the index
        was written since `room` was built (`_make_room` grows it when next needed)."""
        if room.writes != self._writes:
            return False
        for name, array in room.arrays.items():
            setattr(self, f"_{name}", array)
        if "id_arena" in room.arrays:
            self._state[STATE_ID_USED], self._state[STATE_ID_GARBAGE] = room.id_used, 0
        return True


def warm_up() -> None:
    """Compile every kernel (or load it from numba's on-disk cache) with the argument types
    the worker passes, so that a worker's first batches do not stall its event loop for the
    seconds a compilation takes."""
    index = WatchlistIndex(b"warm-up")
    index.build(["a", "b"], np.ones(2, np.uint8), key_words([b"a", b"bb"]),
                np.full(2, NEVER_EXPIRES, np.int64))
    for i in range(MIN_TABLE):  # past MAX_LOAD: the tables grow once
        index.upsert(f"u{i}", 1, f"u{i}".encode(), 1)
    index.upsert("long", 1, b"k" * 20, 1)
    for width in (1, 2, 3):
        index.match(np.ones(1, np.uint8), key_words([b"a"], width=width), 0)
        index.hashes(np.ones(1, np.uint8), key_words([b"a"], width=width))
    index.slots_of([b"a"])
    index.expired(2)
    index.delete("long")
    for i in range(300):  # the id arena fills with garbage and is compacted
        index.delete(f"u{i}")
        index.upsert(f"v{i}", 1, b"v", 1)
