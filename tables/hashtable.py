"""Numba kernels of the watchlist index, the open-addressing table and in-place updates.

Layout (see `WatchlistIndex` for why): the table is uint64 words, 0 = empty, in buckets of
one cache line (LINE_WORDS words): the hash's high 32 bits (its tag; the low bits choose the
home line) | the entry's slot. Linear probing by line: an entry sits in the first line from
its home on with a free word, so every line between an entry's home and its own line is
full. A probe (`tables/probe.py`) thus compares its tag with the 8 words of its home line at
once, and when that line has a free word, the words of its tag there are all its candidates
(several entries may share a tag: the same key on two lists, or a collision); only behind a
full line does it walk on. Insertion and backward-shift deletion keep that invariant.

Plain-Python twin: `ReferenceIndex` in `tables/reference.py`, through `WatchlistIndex`.
`tables/probe.py` inlines these functions, and numba's on-disk cache notices edits to a
kernel's own file only: after editing this one, delete `tables/__pycache__/*.nbi`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from tables.entries import entry_hash

SLOT_BITS = np.uint64((1 << 31) - 1)
MAX_SLOTS = 1 << 31
# Table words per 64-byte cache line, the bucket a probe looks at without branching.
LINE_WORDS = 8


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


@njit(nogil=True, cache=True)
def table_delete(table, meta, h, slot):
    """Remove entry `slot` (hash h) with backward-shift deletion by line: no tombstones, so
    probes stay short. Return False when the entry is not in the table."""
    base = home_line(h, table)
    while True:
        for j in range(LINE_WORDS):
            v = table[base + uint64(j)]
            if v != 0 and (v & SLOT_BITS) == slot:
                table[base + uint64(j)] = 0
                _refill(table, meta, base + uint64(j))
                return True
        if line_has_free_word(table, base):
            return False
        base = next_line(base, table)


@njit(inline="always")
def _refill(table, meta, hole):
    """Keep every line between an entry's home and its own line full after word `hole` was
    emptied. While the hole's line was full, an entry of a later line may have probed past
    it: the first such one moves into the hole, and the hole it leaves is filled in turn.
    The home of a word is its entry's hash, kept in the entry store (the table keeps only
    the tag)."""
    while True:
        hole_base = hole & ~uint64(LINE_WORDS - 1)
        free = 0
        for j in range(LINE_WORDS):
            free += table[hole_base + uint64(j)] == 0
        if free > 1:
            return  # the line had a free word before: no entry probed past it
        hole_line = hole_base // uint64(LINE_WORDS)
        base = next_line(hole_base, table)
        j = _word_past(table, meta, base, hole_line)
        while j == LINE_WORDS:
            if line_has_free_word(table, base):
                return  # no entry behind a line with a free word probed past it
            base = next_line(base, table)
            j = _word_past(table, meta, base, hole_line)
        mover = base + uint64(j)
        table[hole] = table[mover]
        table[mover] = 0
        hole = mover


@njit(inline="always")
def _word_past(table, meta, base, hole_line):
    """Index within the line at `base` of its first word whose entry probed past line
    `hole_line` (that line is in [home line, this line) cyclically); LINE_WORDS if none."""
    lmask = uint64(table.shape[0] // LINE_WORDS - 1)
    line = base // uint64(LINE_WORDS)
    for j in range(LINE_WORDS):
        v = table[base + uint64(j)]
        if v != 0:
            home = entry_hash(meta, v & SLOT_BITS) & lmask
            if ((hole_line - home) & lmask) < ((line - home) & lmask):
                return j
    return LINE_WORDS
