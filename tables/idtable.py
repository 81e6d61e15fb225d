"""Numba kernels of the watchlist index, entry ids: slot by id without a Python object per entry.

Layout (see `WatchlistIndex` for why): every entry's id is UTF-8 bytes in one byte arena,
`id_ref[slot] = offset << ID_LEN_BITS | length` (0 for a free slot); `ids` is an open
addressing table of `slot + 1` (0 = empty), linear probing by word, at most half full,
with backward-shift deletion. An id's home is its FNV-1a hash, finalised: ids are chosen by
authorised editors, not by the observed public, so an unkeyed hash is enough here.

Plain-Python twin: a dict, through `WatchlistIndex` (`tests/tables/test_index.py`).
Numba's on-disk cache notices edits to a kernel's own file only: after editing this one,
delete `tables/__pycache__/*.nbi` (`./dev` does it when any kernel source changed).
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

ID_LEN_BITS = np.uint64(16)
ID_LEN_MASK = np.uint64(0xFFFF)


@njit(inline="always")
def id_hash(buf, start, length):
    """FNV-1a of buf[start:start + length], finalised (murmur3's fmix64) so low bits mix."""
    h = uint64(0xCBF29CE484222325)
    for i in range(length):
        h = (h ^ uint64(buf[start + i])) * uint64(0x100000001B3)
    h ^= h >> uint64(33)
    h *= uint64(0xFF51AFD7ED558CCD)
    h ^= h >> uint64(33)
    h *= uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> uint64(33))


@njit(inline="always")
def _same_id(id_ref, arena, slot, buf, start, length):
    ref = id_ref[slot]
    if (ref & ID_LEN_MASK) != length:
        return False
    offset = ref >> ID_LEN_BITS
    for i in range(length):  # noqa: SIM110 (numba: a plain loop, no generator)
        if arena[offset + uint64(i)] != buf[start + i]:
            return False
    return True


@njit(inline="always")
def id_find(ids, id_ref, arena, h, buf, start, length):
    """Return the slot of the id buf[start:start + length] (hash h), or -1."""
    mask = uint64(ids.shape[0] - 1)
    pos = h & mask
    while True:
        v = ids[pos]
        if v == 0:
            return -1
        slot = np.int64(v) - 1
        if _same_id(id_ref, arena, slot, buf, start, length):
            return slot
        pos = (pos + uint64(1)) & mask


@njit(inline="always")
def id_insert(ids, h, slot):
    """Put `slot` (id hash h) in the first empty position from its home on."""
    mask = uint64(ids.shape[0] - 1)
    pos = h & mask
    while ids[pos] != 0:
        pos = (pos + uint64(1)) & mask
    ids[pos] = slot + 1


@njit(inline="always")
def slot_id_hash(id_ref, arena, slot):
    """The id hash of entry `slot`, from its id in the arena."""
    ref = id_ref[slot]
    return id_hash(arena, ref >> ID_LEN_BITS, ref & ID_LEN_MASK)


@njit(inline="always")
def id_delete(ids, id_ref, arena, h, slot):
    """Remove `slot` (id hash h), shifting later members of its run back into the hole."""
    mask = uint64(ids.shape[0] - 1)
    pos = h & mask
    while ids[pos] != slot + 1:
        pos = (pos + uint64(1)) & mask
    hole = pos
    pos = (pos + uint64(1)) & mask
    while ids[pos] != 0:
        home = slot_id_hash(id_ref, arena, np.int64(ids[pos]) - 1) & mask
        # The word at pos may move into the hole when its home is not in (hole, pos].
        if ((pos - home) & mask) >= ((pos - hole) & mask):
            ids[hole] = ids[pos]
            hole = pos
        pos = (pos + uint64(1)) & mask
    ids[hole] = 0


@njit(nogil=True, cache=True)
def id_rebuild(ids, id_ref, arena, upto):
    """Insert every live slot below `upto` into the empty table `ids` (after growing it)."""
    for slot in range(upto):
        if id_ref[slot] != 0:
            id_insert(ids, slot_id_hash(id_ref, arena, slot), slot)


@njit(nogil=True, cache=True)
def id_compact(id_ref, arena, upto, out):
    """Copy the ids of live slots below `upto` densely into `out`, updating their refs;
    return the bytes used."""
    used = uint64(0)
    for slot in range(upto):
        ref = id_ref[slot]
        if ref == 0:
            continue
        offset = ref >> ID_LEN_BITS
        length = ref & ID_LEN_MASK
        for i in range(length):
            out[used + uint64(i)] = arena[offset + uint64(i)]
        id_ref[slot] = (used << ID_LEN_BITS) | length
        used += length
    return used


@njit(nogil=True, cache=True)
def id_lookup(ids, id_ref, arena, buf, offsets, out):
    """Slot of every id buf[offsets[i]:offsets[i + 1]], or -1."""
    for i in range(offsets.shape[0] - 1):
        start = offsets[i]
        length = offsets[i + 1] - start
        out[i] = id_find(ids, id_ref, arena, id_hash(buf, start, length), buf, start, length)
