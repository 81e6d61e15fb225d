"""Numba kernels of the watchlist index: keyed hashing, the open-addressing table, matching.

Small, pure functions over numpy arrays; `tables/index.py` owns the state and calls them.
Their plain-Python twins for tests are `tables/reference.py`.

Layout (see `WatchlistIndex` for why):
- a key is a row of little-endian uint64 words holding its UTF-8 bytes, zero padded. No
  identifier contains a NUL byte, so the words up to the first zero word are the key;
- the table is linear probing over `table_hashes` (uint64, 0 = empty slot) with the entry
  slot beside it in `table_slots` (uint32); several entries may share a hash (same key on
  two lists, or a collision), so a probe walks the whole cluster;
- per entry slot, `meta[slot] = (expires_at, ref)` with ref = arena word offset << 16 |
  word count << 8 | key space; the key's words live in `arena` for confirmation.

Hashing is SipHash-2-4 (a keyed PRF, so the table holds no recoverable identifier without
the secret), with the key space folded into the second key half.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types, uint64
from numba.core import cgutils
from numba.extending import intrinsic

EMPTY_SLOT = np.uint32(0xFFFFFFFF)
NEVER_EXPIRES = np.uint64(np.iinfo(np.int64).max)


# Rows per stage of `match_keys`.
CHUNK = 256
# meta row: expires_at, ref, then the key's words inline when it has at most INLINE_WORDS
# (MAC, IMSI, IMEI and most plates and document numbers), so a hit needs no arena read.
META_COLS = 4
INLINE_WORDS = 2


@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint the CPU to load arr[idx] of a 1-d array into cache (LLVM's prefetch, never faults)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        index = context.cast(builder, args[1], idxty, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [index], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always")
def _rotl(x, b):
    return (x << uint64(b)) | (x >> uint64(64 - b))


@njit(inline="always")
def _sipround(v0, v1, v2, v3):
    v0 += v1
    v1 = _rotl(v1, 13)
    v1 ^= v0
    v0 = _rotl(v0, 32)
    v2 += v3
    v3 = _rotl(v3, 16)
    v3 ^= v2
    v0 += v3
    v3 = _rotl(v3, 21)
    v3 ^= v0
    v2 += v1
    v1 = _rotl(v1, 17)
    v1 ^= v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


@njit(inline="always")
def key_length(words, row):
    """Return (byte length, word count) of a zero-padded key row."""
    n = 0
    while n < words.shape[1] and words[row, n] != 0:
        n += 1
    if n == 0:
        return 0, 0
    last = words[row, n - 1]
    tail = 8
    while tail > 1 and (last >> uint64(8 * (tail - 1))) == 0:
        tail -= 1
    return 8 * (n - 1) + tail, n


@njit(inline="always")
def siphash_row(k0, k1, words, row, length):
    """SipHash-2-4 of the `length` bytes held in words[row] (zero padded), keyed by k0, k1."""
    v0 = k0 ^ uint64(0x736F6D6570736575)
    v1 = k1 ^ uint64(0x646F72616E646F6D)
    v2 = k0 ^ uint64(0x6C7967656E657261)
    v3 = k1 ^ uint64(0x7465646279746573)
    full = length // 8
    for i in range(full):
        m = words[row, i]
        v3 ^= m
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= m
    b = uint64(length & 0xFF) << uint64(56)
    if length % 8:
        b |= words[row, full]  # the rest of the last word is zero padding
    v3 ^= b
    v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0 ^= b
    v2 ^= uint64(0xFF)
    for _ in range(4):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


@njit(inline="always")
def slot_hash(k0, k1, hash_mask, space, words, row, length):
    """Return the table hash of a key in a key space: never 0, which marks an empty slot."""
    h = siphash_row(k0, k1 ^ uint64(space), words, row, length) & hash_mask
    return h if h != 0 else uint64(1)


@njit(nogil=True, cache=True)
def hash_keys(k0, k1, hash_mask, spaces, words, out):
    """Write the table hash of every key row into out."""
    for r in range(words.shape[0]):
        length, _ = key_length(words, r)
        out[r] = slot_hash(k0, k1, hash_mask, spaces[r], words, r, length)


@njit(nogil=True, cache=True)
def table_insert(table_hashes, table_slots, h, slot):
    """Put (h, slot) in the first empty position of h's cluster. The table must have room."""
    mask = table_hashes.shape[0] - 1
    pos = h & uint64(mask)
    while table_hashes[pos] != 0:
        pos = (pos + uint64(1)) & uint64(mask)
    table_hashes[pos] = h
    table_slots[pos] = slot


@njit(nogil=True, cache=True)
def table_insert_many(table_hashes, table_slots, hashes, slots):
    """Insert every (hashes[i], slots[i])."""
    for i in range(hashes.shape[0]):
        table_insert(table_hashes, table_slots, hashes[i], slots[i])


@njit(nogil=True, cache=True)
def table_delete(table_hashes, table_slots, h, slot):
    """Remove (h, slot) with backward-shift deletion (no tombstones, so probes stay short).

    Return False when the pair is not in the table.
    """
    mask = uint64(table_hashes.shape[0] - 1)
    pos = h & mask
    while True:
        if table_hashes[pos] == 0:
            return False
        if table_hashes[pos] == h and table_slots[pos] == slot:
            break
        pos = (pos + uint64(1)) & mask
    hole = pos
    nxt = (hole + uint64(1)) & mask
    while table_hashes[nxt] != 0:
        home = table_hashes[nxt] & mask
        # Move the element back when its home is not in (hole, nxt], cyclically.
        if ((nxt - home) & mask) >= ((nxt - hole) & mask):
            table_hashes[hole] = table_hashes[nxt]
            table_slots[hole] = table_slots[nxt]
            hole = nxt
        nxt = (nxt + uint64(1)) & mask
    table_hashes[hole] = 0
    table_slots[hole] = EMPTY_SLOT
    return True


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


@njit(nogil=True, cache=True)
def upsert_entry(k0, k1, hash_mask, table_hashes, table_slots, meta, arena, old_slot, slot,
                 words, offset, expires_at, space):
    """Index key row 0 of words as entry `slot` (a long key goes to arena[offset:]), first
    unindexing `old_slot` when it is not -1; return (arena words used, arena words freed)."""
    freed = 0
    if old_slot >= 0:
        freed = delete_entry(k0, k1, hash_mask, table_hashes, table_slots, meta, arena,
                             old_slot)
    length, _ = key_length(words, 0)
    used = store_key(meta, arena, slot, words, 0, offset, uint64(expires_at), uint64(space))
    h = slot_hash(k0, k1, hash_mask, uint64(space), words, 0, length)
    table_insert(table_hashes, table_slots, h, slot)
    return used, freed


@njit(nogil=True, cache=True)
def delete_entry(k0, k1, hash_mask, table_hashes, table_slots, meta, arena, slot):
    """Unindex entry `slot` and free its metadata; return the arena words it held."""
    ref = meta[slot, 1]
    offset = ref >> uint64(16)
    nwords = (ref >> uint64(8)) & uint64(0xFF)
    space = ref & uint64(0xFF)
    words = np.zeros((1, nwords), np.uint64)
    inline = nwords <= INLINE_WORDS
    for i in range(nwords):
        words[0, i] = meta[slot, 2 + i] if inline else arena[offset + i]
    length, _ = key_length(words, 0)
    table_delete(table_hashes, table_slots, slot_hash(k0, k1, hash_mask, space, words, 0, length),
                 slot)
    meta[slot, 0] = NEVER_EXPIRES
    meta[slot, 1] = 0
    return 0 if inline else nwords


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


@njit(inline="always")
def _match_cluster(table_hashes, table_slots, meta, arena, mask, pos, h, space, words, r,
                   nwords, now_ms, out_rows, out_slots, found):
    """Confirm every entry of hash h from table position pos to the cluster's end; return the
    new count of pairs found (written while they fit the outputs)."""
    cap = out_rows.shape[0]
    while table_hashes[pos] != 0:
        if table_hashes[pos] == h:
            slot = table_slots[pos]
            if meta[slot, 0] > now_ms and confirm(meta, arena, slot, space, words, r, nwords):
                if found < cap:
                    out_rows[found] = r
                    out_slots[found] = slot
                found += 1
        pos = (pos + uint64(1)) & mask
    return found


@njit(nogil=True, cache=True)
def match_keys(k0, k1, hash_mask, table_hashes, table_slots, meta, arena, spaces, words,
               now_ms, out_rows, out_slots):
    """Find, for every key row, the live entries whose key and space equal it.

    Writes (row, entry slot) pairs in row order to out_rows/out_slots and returns how many
    there are; when that exceeds the outputs' length, only the first ones are written and
    the caller retries with larger outputs. An entry is live while now_ms < expires_at.

    Rows go in chunks through stages (hash, probe, confirm), each stage prefetching what the
    next one reads: a probe into a table far larger than the cache is a DRAM miss, ~150 ns
    one at a time. The probe stage stores only at addresses fixed by the row (measured: a
    store whose address depends on a probed value kept the misses of later rows from
    overlapping, 2x slower).
    """
    mask = uint64(table_hashes.shape[0] - 1)
    found = 0
    n = words.shape[0]
    hashes = np.empty(CHUNK, np.uint64)
    nwords = np.empty(CHUNK, np.int64)
    first = np.empty(CHUNK, np.int64)  # position of the row's first hash match, or -1
    meta_flat = meta.reshape(meta.size)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        for r in range(start, stop):
            length, nw = key_length(words, r)
            nwords[r - start] = nw
            h = slot_hash(k0, k1, hash_mask, spaces[r], words, r, length) if nw else uint64(0)
            hashes[r - start] = h
            prefetch(table_hashes, h & mask)
            prefetch(table_slots, h & mask)
        for i in range(stop - start):
            h = hashes[i]
            pos = h & mask
            f = -1
            while h != 0 and table_hashes[pos] != 0:
                if table_hashes[pos] == h:
                    f = np.int64(pos)
                    break
                pos = (pos + uint64(1)) & mask
            first[i] = f
        for i in range(stop - start):
            if first[i] >= 0:
                prefetch(meta_flat, META_COLS * table_slots[first[i]])
        for i in range(stop - start):
            if first[i] >= 0:
                # Every entry with this hash sits between the first match and the next empty
                # position (linear probing), usually just the one.
                found = _match_cluster(table_hashes, table_slots, meta, arena, mask,
                                       uint64(first[i]), hashes[i], spaces[start + i], words,
                                       start + i, nwords[i], now_ms, out_rows, out_slots, found)
    return found


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
