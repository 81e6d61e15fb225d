"""Plain-Python twins of the index kernels, for tests: SipHash-2-4 and a dict-based matcher.

`siphash24` and `slot_hash` are the twins of `tables/keyhash.py`; `ReferenceIndex` is the
twin of the table, entry store and probe kernels (`tables/hashtable.py`, `tables/entries.py`,
`tables/probe.py`) as `WatchlistIndex` drives them. Written for clarity, not speed, and
independently of the kernels: the property tests hold the numba path to exactly what these
return.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

MASK64 = (1 << 64) - 1


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & MASK64


def _round(v: list[int]) -> None:
    v[0] = (v[0] + v[1]) & MASK64
    v[1] = _rotl(v[1], 13) ^ v[0]
    v[0] = _rotl(v[0], 32)
    v[2] = (v[2] + v[3]) & MASK64
    v[3] = _rotl(v[3], 16) ^ v[2]
    v[0] = (v[0] + v[3]) & MASK64
    v[3] = _rotl(v[3], 21) ^ v[0]
    v[2] = (v[2] + v[1]) & MASK64
    v[1] = _rotl(v[1], 17) ^ v[2]
    v[2] = _rotl(v[2], 32)


def siphash24(k0: int, k1: int, data: bytes) -> int:
    """SipHash-2-4 of data under the 128-bit key (k0, k1), as in the reference paper."""
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    full = len(data) // 8 * 8
    blocks = [int.from_bytes(data[i:i + 8], "little") for i in range(0, full, 8)]
    blocks.append(int.from_bytes(data[full:].ljust(7, b"\0"), "little") | (len(data) & 0xFF) << 56)
    for m in blocks:
        v[3] ^= m
        _round(v)
        _round(v)
        v[0] ^= m
    v[2] ^= 0xFF
    for _ in range(4):
        _round(v)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def split_secret(secret: bytes) -> tuple[int, int]:
    """Return the two 64-bit key halves of a 16-byte secret."""
    k0, k1 = struct.unpack("<QQ", secret)
    return k0, k1


def slot_hash(k0: int, k1: int, hash_bits: int, space: int, key: bytes) -> int:
    """The table hash of `key` in key space `space`: SipHash of the key zero-padded to whole
    8-byte words, at least two, cut to hash_bits; never 0."""
    padded = key.ljust(8 * max(2, -(-len(key) // 8)), b"\0")
    h = siphash24(k0, k1 ^ space, padded) & ((1 << hash_bits) - 1)
    return h or 1


class ReferenceIndex:
    """The matching semantics of `WatchlistIndex` with a dict: (space, key) -> entries."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, bytes, int]] = {}

    def upsert(self, entry_id: str, space: int, key: bytes, expires_at: int) -> None:
        """Insert or replace an entry."""
        self._entries[entry_id] = (space, key, expires_at)

    def delete(self, entry_id: str) -> None:
        """Remove an entry if present."""
        self._entries.pop(entry_id, None)

    def match(self, keys: Iterable[tuple[int, bytes]], now_ms: int) -> list[tuple[int, str]]:
        """Return sorted (row, entry_id) pairs: rows whose (space, key) equals a live entry's."""
        by_key: dict[tuple[int, bytes], list[str]] = {}
        for entry_id, (space, key, expires_at) in self._entries.items():
            if expires_at > now_ms:
                by_key.setdefault((space, key), []).append(entry_id)
        return sorted((row, entry_id) for row, k in enumerate(keys)
                      for entry_id in by_key.get(k, []))
