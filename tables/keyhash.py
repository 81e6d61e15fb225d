"""Numba kernels of the watchlist index, keyed hashing: the table hash of key rows.

Layout (see `WatchlistIndex` for why):
- a key is a row of little-endian uint64 words holding its UTF-8 bytes, zero padded. No
  identifier contains a NUL byte, so the words up to the first zero word are the key;
- the table hash of a key in a key space is SipHash-2-4 (a keyed PRF: the table holds no
  recoverable identifier without the secret) of its words, zero padded to at least
  HASHED_WORDS, with the key space folded into the second key half.

Plain-Python twin: `siphash24` and `slot_hash` in `tables/reference.py`. The other kernel
modules inline these functions, and numba's on-disk cache notices edits to a kernel's own
file only: after editing this one, delete `tables/__pycache__/*.nbi`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

# A key is hashed as at least this many words, so most keys hash in one straight-line path.
HASHED_WORDS = 2


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
