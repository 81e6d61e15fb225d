"""Numba kernels of the watchlist index, the entry store: one metadata row per entry slot.

Layout (see `WatchlistIndex` for why): `meta[slot] = (expires_at, ref, h1, h2)` where h1 is
the entry key's table hash and h2 a second, independent keyed hash of it (the two make
the 128 bits a probe must equal), and ref = attrs << 8 | key space. `attrs` is the
caller's (list, priority, rule, partition codes: `tables/watchlist.py`); key space 0 marks
a free slot. The store holds no key: a probe is confirmed against h1 and h2, and a table
rebuild reads h1 back from here.

Plain-Python twin: `ReferenceIndex` in `tables/reference.py`, through `WatchlistIndex`.
`tables/hashtable.py` and `tables/probe.py` inline these functions, and numba's on-disk
cache notices edits to a kernel's own file only: after editing this one, delete
`tables/__pycache__/*.nbi` (`./dev` does it when any kernel source changed).
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

META_COLS = 4
EXPIRES, REF, H1, H2 = 0, 1, 2, 3
SPACE_BITS = np.uint64(0xFF)
NEVER_EXPIRES = np.uint64(np.iinfo(np.int64).max)


@njit(inline="always")
def store_entry(meta, slot, expires_at, space, attrs, h1, h2):
    """Describe entry `slot`: its expiry, key space, caller attributes and key hashes."""
    meta[slot, EXPIRES] = uint64(expires_at)
    meta[slot, REF] = (uint64(attrs) << uint64(8)) | uint64(space)
    meta[slot, H1] = h1
    meta[slot, H2] = h2


@njit(inline="always")
def clear_entry(meta, slot):
    """Mark entry `slot` free."""
    for c in range(META_COLS):
        meta[slot, c] = 0


@njit(inline="always")
def entry_hash(meta, slot):
    """The table hash of entry `slot` (kept, since the key itself is not)."""
    return meta[slot, H1]


@njit(inline="always")
def confirm(meta, slot, space, h1, h2, now_ms):
    """Tell whether entry `slot` is live at now_ms and holds the key of hashes (h1, h2) in
    this key space (branch-free: the caller's loop stays one straight block)."""
    return (meta[slot, EXPIRES] > now_ms) & ((meta[slot, REF] & SPACE_BITS) == space) \
        & (meta[slot, H1] == h1) & (meta[slot, H2] == h2)
