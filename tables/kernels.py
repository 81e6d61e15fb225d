"""Numba kernels of the watchlist index: keyed hashing, the open-addressing table, matching.

Small, pure functions over numpy arrays; `tables/index.py` owns the state and calls them.
Their plain-Python twins for tests are `tables/reference.py`.

Layout (see `WatchlistIndex` for why):
- a key is a row of little-endian uint64 words holding its UTF-8 bytes, zero padded. No
  identifier contains a NUL byte, so the words up to the first zero word are the key;
- the table hash of a key in a key space is SipHash-2-4 (a keyed PRF: the table holds no
  recoverable identifier without the secret) of its words, zero padded to at least
  HASHED_WORDS, with the key space folded into the second key half;
- the table is uint64 words, 0 = empty, in buckets of one cache line (LINE_WORDS words):
  the hash's high 32 bits (its tag; the low bits choose the home line) | the entry's slot.
  Linear probing by line: an entry sits in the first line from its home on with a free
  word, so every line between an entry's home and its own line is full. A probe thus
  compares its tag with the 8 words of its home line at once, and when that line has a free
  word, the words of its tag there are all its candidates (several entries may share a tag:
  the same key on two lists, or a collision); only behind a full line does it walk on;
- per entry slot, `meta[slot] = (expires_at, ref, key words...)` with ref = arena word
  offset << 16 | word count << 8 | key space; keys of at most INLINE_WORDS words sit in the
  row itself, longer ones in `arena`.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types, uint64
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

NEVER_EXPIRES = np.uint64(np.iinfo(np.int64).max)
SLOT_BITS = np.uint64((1 << 31) - 1)
MAX_SLOTS = 1 << 31
# Table words per 64-byte cache line, the bucket a probe looks at without branching.
LINE_WORDS = 8
# How many rows ahead a matching pass prefetches (enough to cover a DRAM miss).
AHEAD = 64
# Rows per block of `match_keys`: its scratch arrays (6 x 128 KB) stay in the L2 cache.
BLOCK = 16384
# States of a probe after its home line (see `scan_line`); 0 is a miss.
ONE = np.uint64(1)
WALK = np.uint64(2)
# A key is hashed as at least this many words, so most keys hash in one straight-line path.
HASHED_WORDS = 2
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


@intrinsic
def line_masks(typingctx, table, base, tag):
    """(tags, empties) of the LINE_WORDS words of table from `base` on: bit j of tags is set
    when word j's high 32 bits equal `tag`, bit j of empties when word j is 0. One vector
    load and two vector compares (numba leaves the plain loop over the words scalar)."""
    sig = types.UniTuple(types.uint64, 2)(table, base, tag)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        index = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [index], wraparound=False)
        i64 = ir.IntType(64)
        vecty = ir.VectorType(i64, LINE_WORDS)
        words = builder.load(builder.bitcast(ptr, vecty.as_pointer()), align=8)
        tag = context.cast(builder, args[2], signature.args[2], types.uint64)
        tags = builder.shuffle_vector(builder.insert_element(ir.Constant(vecty, None), tag,
                                                             ir.Constant(ir.IntType(32), 0)),
                                      ir.Constant(vecty, None),
                                      ir.Constant(ir.VectorType(ir.IntType(32), LINE_WORDS),
                                                  [0] * LINE_WORDS))
        high = builder.lshr(words, ir.Constant(vecty, [32] * LINE_WORDS))

        def bits(flags):
            return builder.zext(builder.bitcast(flags, ir.IntType(LINE_WORDS)), i64)

        return context.make_tuple(builder, signature.return_type, [
            bits(builder.icmp_unsigned("==", high, tags)),
            bits(builder.icmp_unsigned("==", words, ir.Constant(vecty, [0] * LINE_WORDS)))])

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
def _sip_start(k0, k1):
    return (k0 ^ uint64(0x736F6D6570736575), k1 ^ uint64(0x646F72616E646F6D),
            k0 ^ uint64(0x6C7967656E657261), k1 ^ uint64(0x7465646279746573))


@njit(inline="always")
def _sip_block(v0, v1, v2, v3, m):
    v3 ^= m
    v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return v0 ^ m, v1, v2, v3


@njit(inline="always")
def _sip_finish(v0, v1, v2, v3):
    v2 ^= uint64(0xFF)
    for _ in range(4):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


@njit(inline="always")
def _nonzero(h):
    """0 marks an empty table position, so a hash of 0 becomes 1 (branch-free)."""
    return h | uint64(h == 0)


@njit(inline="always")
def siphash_row(k0, k1, words, row, length):
    """SipHash-2-4 of the `length` bytes held in words[row] (zero padded), keyed by k0, k1."""
    v0, v1, v2, v3 = _sip_start(k0, k1)
    full = length // 8
    for i in range(full):
        v0, v1, v2, v3 = _sip_block(v0, v1, v2, v3, words[row, i])
    b = uint64(length & 0xFF) << uint64(56)
    if length % 8:
        b |= words[row, full]  # the rest of the last word is zero padding
    v0, v1, v2, v3 = _sip_block(v0, v1, v2, v3, b)
    return _sip_finish(v0, v1, v2, v3)


@njit(inline="always")
def slot_hash(k0, k1, hash_mask, space, words, row, length):
    """Return the table hash of a key in a key space: never 0, which marks an empty slot."""
    return _nonzero(siphash_row(k0, k1 ^ uint64(space), words, row, length) & hash_mask)


@njit(inline="always")
def hash_row(k0, k1, hash_mask, space, words, row):
    """Table hash of one key row (any width): SipHash-2-4 of its words, at least two."""
    _, nwords = key_length(words, row)
    if nwords <= HASHED_WORDS:
        w1 = words[row, 1] if words.shape[1] > 1 else uint64(0)
        return pair_hash(k0, k1, hash_mask, space, words[row, 0], w1)
    return slot_hash(k0, k1, hash_mask, space, words, row, 8 * nwords)


@njit(inline="always")
def pair_hash(k0, k1, hash_mask, space, w0, w1):
    """Table hash of a key of at most HASHED_WORDS words (the same as `slot_hash` of it padded
    to two words): straight-line, so that a loop over rows of it compiles to SIMD (measured
    4x faster than the per-row length loop)."""
    v0, v1, v2, v3 = _sip_start(k0, k1 ^ uint64(space))
    v0, v1, v2, v3 = _sip_block(v0, v1, v2, v3, w0)
    v0, v1, v2, v3 = _sip_block(v0, v1, v2, v3, w1)
    v0, v1, v2, v3 = _sip_block(v0, v1, v2, v3, uint64(8 * HASHED_WORDS) << uint64(56))
    return _nonzero(_sip_finish(v0, v1, v2, v3) & hash_mask)


@njit(nogil=True, cache=True)
def _hash_pairs(k0, k1, hash_mask, spaces, w0, w1, out):
    for r in range(w0.shape[0]):
        out[r] = pair_hash(k0, k1, hash_mask, spaces[r], w0[r], w1[r])


@njit(nogil=True, cache=True)
def hash_keys(k0, k1, hash_mask, spaces, words, out):
    """Write the table hash of every key row into out."""
    n = words.shape[0]
    hash_rows(k0, k1, hash_mask, spaces, words, 0, n, np.empty(n, np.uint64),
              np.empty(n, np.uint64), out)


@njit(inline="always")
def hash_rows(k0, k1, hash_mask, spaces, words, start, stop, w0, w1, out):
    """Write the table hash of key rows start..stop into out[0:stop - start], using w0 and w1
    (at least that long) as scratch."""
    width = words.shape[1]
    if width > HASHED_WORDS:
        for r in range(start, stop):
            out[r - start] = hash_row(k0, k1, hash_mask, spaces[r], words, r)
        return
    # Contiguous columns: the SIMD loop needs unit-stride loads.
    m = stop - start
    for i in range(m):
        w0[i] = words[start + i, 0]
        w1[i] = words[start + i, 1] if width > 1 else uint64(0)
    _hash_pairs(k0, k1, hash_mask, spaces[start:stop], w0[:m], w1[:m], out)


@njit(inline="always")
def tag_of(h):
    """The hash bits a table word keeps (the home line holds the low bits); never 0."""
    return (h >> uint64(32)) | uint64(1)


@njit(inline="always")
def home_line(h, table):
    """Index of the first word of h's home line (the table is a power of two of lines)."""
    return (h & uint64(table.shape[0] // LINE_WORDS - 1)) * uint64(LINE_WORDS)


@njit(inline="always")
def next_line(base, table):
    """Index of the first word of the line after the one at `base`, cyclically."""
    return (base + uint64(LINE_WORDS)) & uint64(table.shape[0] - 1)


@njit(inline="always")
def line_has_free_word(table, base):
    """Tell whether the line at `base` holds an empty word."""
    free = False
    for j in range(LINE_WORDS):
        free |= table[base + j] == 0
    return free


@njit(nogil=True, cache=True)
def table_insert(table, h, slot):
    """Put entry `slot` of hash h in the first free word of the first line from h's home line
    on that has one. Needs a free word in the table."""
    base = home_line(h, table)
    while True:
        for j in range(LINE_WORDS):
            if table[base + j] == 0:
                table[base + j] = (tag_of(h) << uint64(32)) | uint64(slot)
                return
        base = next_line(base, table)


@njit(nogil=True, cache=True)
def table_insert_many(table, hashes, slots):
    """Insert every (hashes[i], slots[i])."""
    for i in range(hashes.shape[0]):
        table_insert(table, hashes[i], slots[i])


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


@njit(nogil=True, cache=True)
def table_delete(k0, k1, hash_mask, table, meta, arena, h, slot):
    """Remove entry `slot` (hash h) with backward-shift deletion by line: no tombstones, so
    probes stay short. Return False when the entry is not in the table."""
    base = home_line(h, table)
    while True:
        for j in range(LINE_WORDS):
            v = table[base + uint64(j)]
            if v != 0 and (v & SLOT_BITS) == slot:
                table[base + uint64(j)] = 0
                _refill(k0, k1, hash_mask, table, meta, arena, base + uint64(j))
                return True
        if line_has_free_word(table, base):
            return False
        base = next_line(base, table)


@njit(inline="always")
def _refill(k0, k1, hash_mask, table, meta, arena, hole):
    """Keep every line between an entry's home and its own line full after word `hole` was
    emptied. While the hole's line was full, an entry of a later line may have probed past
    it: the first such one moves into the hole, and the hole it leaves is filled in turn.
    The home of a word is recomputed from its entry's key (the table keeps only the tag)."""
    while True:
        hole_base = hole & ~uint64(LINE_WORDS - 1)
        free = 0
        for j in range(LINE_WORDS):
            free += table[hole_base + uint64(j)] == 0
        if free > 1:
            return  # the line had a free word before: no entry probed past it
        hole_line = hole_base // uint64(LINE_WORDS)
        base = next_line(hole_base, table)
        j = _word_past(k0, k1, hash_mask, table, meta, arena, base, hole_line)
        while j == LINE_WORDS:
            if line_has_free_word(table, base):
                return  # no entry behind a line with a free word probed past it
            base = next_line(base, table)
            j = _word_past(k0, k1, hash_mask, table, meta, arena, base, hole_line)
        mover = base + uint64(j)
        table[hole] = table[mover]
        table[mover] = 0
        hole = mover


@njit(inline="always")
def _word_past(k0, k1, hash_mask, table, meta, arena, base, hole_line):
    """Index within the line at `base` of its first word whose entry probed past line
    `hole_line` (that line is in [home line, this line) cyclically); LINE_WORDS if none."""
    lmask = uint64(table.shape[0] // LINE_WORDS - 1)
    line = base // uint64(LINE_WORDS)
    for j in range(LINE_WORDS):
        v = table[base + uint64(j)]
        if v != 0:
            home = entry_hash(k0, k1, hash_mask, meta, arena, v & SLOT_BITS) & lmask
            if ((hole_line - home) & lmask) < ((line - home) & lmask):
                return j
    return LINE_WORDS


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
def upsert_entry(k0, k1, hash_mask, table, meta, arena, old_slot, slot, words, offset,
                 expires_at, space):
    """Index key row 0 of words as entry `slot` (a long key goes to arena[offset:]), first
    unindexing `old_slot` when it is not -1; return (arena words used, arena words freed)."""
    freed = 0
    if old_slot >= 0:
        freed = delete_entry(k0, k1, hash_mask, table, meta, arena, old_slot)
    used = store_key(meta, arena, slot, words, 0, offset, uint64(expires_at), uint64(space))
    table_insert(table, hash_row(k0, k1, hash_mask, uint64(space), words, 0), slot)
    return used, freed


@njit(nogil=True, cache=True)
def delete_entry(k0, k1, hash_mask, table, meta, arena, slot):
    """Unindex entry `slot` and free its metadata; return the arena words it held."""
    ref = meta[slot, 1]
    nwords = (ref >> uint64(8)) & uint64(0xFF)
    table_delete(k0, k1, hash_mask, table, meta, arena,
                 entry_hash(k0, k1, hash_mask, meta, arena, slot), slot)
    meta[slot, 0] = NEVER_EXPIRES
    meta[slot, 1] = 0
    return 0 if nwords <= INLINE_WORDS else nwords


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
def scan_line(table, h):
    """Compare h's tag with every word of its home line, without branching on what they hold
    (unpredictable branches there cost more than the memory).

    Return (state, word): state 0 (a miss: the line has a free word and no word of h's tag),
    ONE (a free word and exactly one word of h's tag: `word`, the only possible match) or
    WALK (anything else: walk the lines).
    """
    base = home_line(h, table)
    tags, empties = line_masks(table, base, tag_of(h))
    has_free = uint64(empties != 0)
    one = has_free & uint64(tags != 0) & uint64((tags & (tags - uint64(1))) == 0)
    miss = has_free & uint64(tags == 0)
    word = table[base + trailing_zeros(tags | uint64(1 << (LINE_WORDS - 1)))]
    return one * ONE + (uint64(1) - one - miss) * WALK, word


@njit(inline="always")
def walk_lines(table, meta, arena, h, space, words, r, nwords, now_ms, rows, slots, found):
    """Confirm every word of h's tag from h's home line to the first line with a free word;
    append the live matches to rows/slots (while they fit) and return the new count."""
    cap = rows.shape[0]
    tag = tag_of(h)
    base = home_line(h, table)
    while True:
        for j in range(LINE_WORDS):
            v = table[base + j]
            if v != 0 and (v >> uint64(32)) == tag:
                slot = v & SLOT_BITS
                if meta[slot, 0] > now_ms and confirm(meta, arena, slot, space, words, r, nwords):
                    if found < cap:
                        rows[found] = r
                        slots[found] = slot
                    found += 1
        if line_has_free_word(table, base):
            return found
        base = next_line(base, table)


@njit(nogil=True, cache=True)
def match_keys(k0, k1, hash_mask, table, meta, arena, spaces, words, now_ms, out_rows,
               out_slots):
    """Find, for every key row, the live entries whose key and space equal it.

    Writes (row, entry slot) pairs in row order to out_rows/out_slots and returns how many
    there are; when that exceeds the outputs' length, only the first ones are written and
    the caller retries with larger outputs. An entry is live while now_ms < expires_at.

    The batch goes in blocks of BLOCK rows (scratch arrays that stay in cache and are not
    page-faulted in afresh on every call) through passes, each a simple loop prefetching
    AHEAD rows in advance, because a probe into a table far larger than the cache is a DRAM
    miss (~100 ns alone): hash (SIMD); look in each row's home line and keep the rows with a
    single candidate; confirm those against their entries; walk the clusters of the few
    rows that need it; merge the two in row order.
    """
    n = words.shape[0]
    hashes = np.empty(BLOCK, np.uint64)
    col0 = np.empty(BLOCK, np.uint64)
    col1 = np.empty(BLOCK, np.uint64)
    cand_rows = np.empty(BLOCK, np.int64)
    cand_slots = np.empty(BLOCK, np.uint64)
    walk_rows = np.empty(BLOCK, np.int64)
    fast_rows = np.empty(BLOCK, np.int64)
    fast_slots = np.empty(BLOCK, np.uint32)
    slow_rows = np.empty(16, np.int64)
    slow_slots = np.empty(16, np.uint32)
    found = 0
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        hash_rows(k0, k1, hash_mask, spaces, words, start, stop, col0, col1, hashes)
        ncand, nwalk = _scan_block(table, hashes, words, start, stop, cand_rows, cand_slots,
                                   walk_rows)
        nfast = _confirm_block(meta, spaces, words, now_ms, cand_rows, cand_slots, ncand,
                               fast_rows, fast_slots)
        nslow = 0
        while True:
            nslow = 0
            for j in range(nwalk):
                r = walk_rows[j]
                _, nw = key_length(words, r)
                nslow = walk_lines(table, meta, arena, hashes[r - start], spaces[r], words,
                                   r, nw, now_ms, slow_rows, slow_slots, nslow)
            if nslow <= slow_rows.shape[0]:
                break
            slow_rows = np.empty(2 * nslow, np.int64)
            slow_slots = np.empty(2 * nslow, np.uint32)
        found = merge_pairs(fast_rows, fast_slots, nfast, slow_rows, slow_slots, nslow,
                            out_rows, out_slots, found)
    return found


@njit(inline="always")
def _scan_block(table, hashes, words, start, stop, cand_rows, cand_slots, walk_rows):
    """Look in the home line of rows start..stop: the rows with a single candidate go to
    cand_rows/cand_slots, the rows that need a cluster walk to walk_rows; return both counts."""
    m = stop - start
    ncand = 0
    nwalk = 0
    for i in range(min(AHEAD, m)):
        prefetch(table, home_line(hashes[i], table))
    for i in range(m):
        if i + AHEAD < m:
            prefetch(table, home_line(hashes[i + AHEAD], table))
        state, word = scan_line(table, hashes[i])
        r = start + i
        if words.shape[1] > INLINE_WORDS:
            # A key longer than INLINE_WORDS is confirmed against the arena, on the walk.
            long_key = uint64(words[r, INLINE_WORDS] != 0)
            state = (state & ~(ONE * long_key)) | (WALK * long_key * uint64(state != 0))
        # Branch-free appends: both stores always happen, the counts move when they count.
        cand_rows[ncand] = r
        cand_slots[ncand] = word & SLOT_BITS
        ncand += state & ONE
        walk_rows[nwalk] = r
        nwalk += state >> uint64(1)
    return ncand, nwalk


@njit(inline="always")
def _confirm_block(meta, spaces, words, now_ms, cand_rows, cand_slots, ncand, rows, slots):
    """Keep the candidates whose entry is live and holds exactly the row's key (inline keys)."""
    width = words.shape[1]
    meta_flat = meta.reshape(meta.size)
    kept = 0
    for j in range(min(AHEAD, ncand)):
        prefetch(meta_flat, uint64(META_COLS) * cand_slots[j])
    for j in range(ncand):
        if j + AHEAD < ncand:
            prefetch(meta_flat, uint64(META_COLS) * cand_slots[j + AHEAD])
        r = cand_rows[j]
        slot = cand_slots[j]
        w1 = words[r, 1] if width > 1 else uint64(0)
        nw = uint64(words[r, 0] != 0) + uint64(w1 != 0)
        ok = (meta[slot, 0] > now_ms) \
            & ((meta[slot, 1] & uint64(0xFFFF)) == ((nw << uint64(8)) | uint64(spaces[r]))) \
            & (meta[slot, 2] == words[r, 0]) & (meta[slot, 3] == w1)
        rows[kept] = r
        slots[kept] = slot
        kept += ok
    return kept


@njit(inline="always")
def merge_pairs(a_rows, a_slots, na, b_rows, b_slots, nb, out_rows, out_slots, k):
    """Merge two row-ordered pair lists into the outputs from position k on (while they fit);
    return the new count."""
    cap = out_rows.shape[0]
    i = 0
    j = 0
    while i < na or j < nb:
        take_a = j >= nb or (i < na and a_rows[i] <= b_rows[j])
        if k < cap:
            out_rows[k] = a_rows[i] if take_a else b_rows[j]
            out_slots[k] = a_slots[i] if take_a else b_slots[j]
        if take_a:
            i += 1
        else:
            j += 1
        k += 1
    return k


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
