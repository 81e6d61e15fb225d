"""Numba kernels of the watchlist index, matching: a batch of key rows against the table.

`match_keys` runs a batch through passes over blocks of rows (hash, look in the home line,
confirm, walk, merge), each a simple loop prefetching ahead, so that the DRAM misses of many
rows overlap; see its docstring for why, and `tables/hashtable.py` for the table layout.

Plain-Python twin: `ReferenceIndex.match` in `tables/reference.py`, through `WatchlistIndex`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64
from numba.cpython.unsafe.numbers import trailing_zeros

from tables.entries import META_COLS, confirm
from tables.hashtable import (
    LINE_WORDS,
    SLOT_BITS,
    home_line,
    line_has_free_word,
    next_line,
    tag_of,
)
from tables.intrinsics import line_masks, prefetch
from tables.keyhash import hash_row, hash_rows

# How many rows ahead a matching pass prefetches (enough to cover a DRAM miss).
AHEAD = 64
# Rows per block of `match_keys`: its scratch arrays (6 x 128 KB) stay in the L2 cache.
BLOCK = 16384
# States of a probe after its home line (see `scan_line`); 0 is a miss.
ONE = np.uint64(1)
WALK = np.uint64(2)
# The confirmation hash is never cut (only the table hash has a test mode with few bits).
FULL_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


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
def walk_lines(table, meta, h, h2, space, r, now_ms, rows, slots, found):
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
                if confirm(meta, slot, space, h, h2, now_ms):
                    if found < cap:
                        rows[found] = r
                        slots[found] = slot
                    found += 1
        if line_has_free_word(table, base):
            return found
        base = next_line(base, table)


@njit(nogil=True, cache=True)
def match_keys(k0, k1, k2, k3, hash_mask, table, meta, spaces, words, now_ms, out_rows,
               out_slots):
    """Find, for every key row, the live entries whose key and space equal it: the same
    table hash (keys k0, k1, cut to hash_mask) and the same confirmation hash (k2, k3).

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
        nfast = _confirm_block(k2, k3, meta, spaces, words, hashes, start, now_ms, cand_rows,
                               cand_slots, ncand, fast_rows, fast_slots)
        nslow = 0
        while True:
            nslow = 0
            for j in range(nwalk):
                r = walk_rows[j]
                h2 = hash_row(k2, k3, FULL_MASK, uint64(spaces[r]), words, r)
                nslow = walk_lines(table, meta, hashes[r - start], h2, spaces[r], r, now_ms,
                                   slow_rows, slow_slots, nslow)
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
        # Branch-free appends: both stores always happen, the counts move when they count.
        cand_rows[ncand] = r
        cand_slots[ncand] = word & SLOT_BITS
        ncand += state & ONE
        walk_rows[nwalk] = r
        nwalk += state >> uint64(1)
    return ncand, nwalk


@njit(inline="always")
def _confirm_block(k2, k3, meta, spaces, words, hashes, start, now_ms, cand_rows, cand_slots,
                   ncand, rows, slots):
    """Keep the candidates whose entry is live and has the row's key: the row's table hash
    and its confirmation hash, computed here only for the few rows that have a candidate."""
    meta_flat = meta.reshape(meta.size)
    kept = 0
    for j in range(min(AHEAD, ncand)):
        prefetch(meta_flat, uint64(META_COLS) * cand_slots[j])
    for j in range(ncand):
        if j + AHEAD < ncand:
            prefetch(meta_flat, uint64(META_COLS) * cand_slots[j + AHEAD])
        r = cand_rows[j]
        slot = cand_slots[j]
        space = uint64(spaces[r])
        h2 = hash_row(k2, k3, FULL_MASK, space, words, r)
        rows[kept] = r
        slots[kept] = slot
        kept += confirm(meta, slot, space, hashes[r - start], h2, now_ms)
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
