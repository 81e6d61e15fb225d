"""Numba kernels of the watchlist index, the entry store: a metadata row per entry slot.

Layout (see `WatchlistIndex` for why): `meta[slot] = (expires_at, ref, key words...)` with
ref = arena word offset << 16 | word count << 8 | key space; keys of at most INLINE_WORDS
words sit in the row itself, longer ones in `arena`. The table (`tables/hashtable.py`)
keeps only a hash tag per entry, so an entry's key and home line are recomputed from here.

Plain-Python twin: `ReferenceIndex` in `tables/reference.py`, through `WatchlistIndex`.
`tables/hashtable.py` and `tables/probe.py` inline these functions, and numba's on-disk
cache notices edits to a kernel's own file only: after editing this one, delete
`tables/__pycache__/*.nbi`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from tables.keyhash import key_length, pair_hash, slot_hash

NEVER_EXPIRES = np.uint64(np.iinfo(np.int64).max)
# meta row: expires_at, ref, then the key's words inline when it has at most INLINE_WORDS
# (MAC, IMSI, IMEI and most plates and document numbers), so a hit needs no arena read.
META_COLS = 4
INLINE_WORDS = 2


@njit(nogil=True, cache=True)
def store_key(meta, arena, slot, words, row, offset, expires_at, space):
    """Describe key row `row` in meta[slot]: inline when it fits INLINE_WORDS, else copied to
    arena[offset:]. Return the arena words used."""
    _, nwords = key_length(words, row)
    meta[slot, 0] = expires_at
    meta[slot, 1] = (uint64(offset) << uint64(16)) | (uint64(nwords) << uint64(8)) | uint64(space)
    meta[slot, 2] = 0
    meta[slot, 3] = 0
    if nwords <= INLINE_WORDS:
        for i in range(nwords):
            meta[slot, 2 + i] = words[row, i]
        return 0
    for i in range(nwords):
        arena[offset + i] = words[row, i]
    return nwords


@njit(nogil=True, cache=True)
def store_keys(meta, arena, words, expires_at, spaces):
    """Store every key row i as entry slot i (bulk load); return the arena words used."""
    offset = 0
    for r in range(words.shape[0]):
        offset += store_key(meta, arena, r, words, r, offset, uint64(expires_at[r]), spaces[r])
    return offset


@njit(inline="always")
def entry_hash(k0, k1, hash_mask, meta, arena, slot):
    """Recompute the table hash of entry `slot` from its stored key."""
    ref = meta[slot, 1]
    nwords = (ref >> uint64(8)) & uint64(0xFF)
    space = ref & uint64(0xFF)
    if nwords <= INLINE_WORDS:
        return pair_hash(k0, k1, hash_mask, space, meta[slot, 2], meta[slot, 3])
    offset = ref >> uint64(16)
    words = arena[offset:offset + nwords].reshape(1, nwords)
    return slot_hash(k0, k1, hash_mask, space, words, 0, 8 * nwords)


@njit(nogil=True, cache=True)
def entry_hashes(k0, k1, hash_mask, meta, arena, slots, out):
    """Table hash of every entry in slots (for rebuilding the table at another size)."""
    for i in range(slots.shape[0]):
        out[i] = entry_hash(k0, k1, hash_mask, meta, arena, slots[i])


@njit(inline="always")
def confirm(meta, arena, slot, space, words, row, nwords):
    """Tell whether entry `slot` holds exactly this key in this key space."""
    ref = meta[slot, 1]
    if (ref & uint64(0xFF)) != space or ((ref >> uint64(8)) & uint64(0xFF)) != nwords:
        return False
    # Explicit loops: numba compiles them to plain compares (no generator for all()).
    if nwords <= INLINE_WORDS:
        for i in range(nwords):  # noqa: SIM110
            if meta[slot, 2 + i] != words[row, i]:
                return False
        return True
    offset = ref >> uint64(16)
    for i in range(nwords):  # noqa: SIM110
        if arena[offset + i] != words[row, i]:
            return False
    return True


@njit(nogil=True, cache=True)
def compact_arena(meta, arena, live_slots, out_arena):
    """Copy the keys of live_slots densely into out_arena, updating their refs; return words."""
    offset = 0
    for i in range(live_slots.shape[0]):
        slot = live_slots[i]
        ref = meta[slot, 1]
        old = ref >> uint64(16)
        nwords = (ref >> uint64(8)) & uint64(0xFF)
        if nwords <= INLINE_WORDS:
            continue
        for j in range(nwords):
            out_arena[offset + j] = arena[old + j]
        meta[slot, 1] = (uint64(offset) << uint64(16)) | (ref & uint64(0xFFFF))
        offset += nwords
    return offset
