"""Numba kernel of the watchlist index: a batch of upserts and deletes applied in one call.

Commands apply in order (a later command on the same id sees the earlier one's result), in
place: an upsert of a known id keeps its slot and unindexes its old key, a new id takes a
free slot, a delete frees its slot. `WatchlistIndex.apply` sizes every array beforehand, so
the kernel never allocates. `state` holds the counters the kernel moves (STATE_* below).

Plain-Python twin: `ReferenceIndex` in `tables/reference.py`, through `WatchlistIndex`.
Numba's on-disk cache notices edits to a kernel's own file only: after editing this one,
delete `tables/__pycache__/*.nbi` (`./dev` does it when any kernel source changed).
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from tables.entries import REF, clear_entry, entry_hash, store_entry
from tables.hashtable import table_delete, table_insert
from tables.idtable import ID_LEN_BITS, id_delete, id_find, id_hash, id_insert

UPSERT = np.uint8(1)
DELETE = np.uint8(2)
# state: next never-used slot, free slots stacked in `free`, id arena bytes used, of which
# garbage (ids of freed slots), live entries.
STATE_NEXT, STATE_FREE, STATE_ID_USED, STATE_ID_GARBAGE, STATE_LIVE = range(5)
NO_ENTRY = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(nogil=True, cache=True)
def apply_commands(table, meta, aux, id_ref, id_arena, ids, free, state,
                   ops, id_buf, id_offsets, spaces, h1, h2, expires_at, attrs, aux_in, before):
    """Apply command i = (ops[i], id id_buf[id_offsets[i]:id_offsets[i + 1]], and for an
    upsert its key space, key hashes, expiry, attributes and aux word) for every i in order.

    before[i] gets the ref word (attrs << 8 | space) of the entry the command found, or
    NO_ENTRY when there was none (a delete of an unknown id changes nothing).
    """
    for i in range(ops.shape[0]):
        start = id_offsets[i]
        length = id_offsets[i + 1] - start
        ih = id_hash(id_buf, start, length)
        slot = id_find(ids, id_ref, id_arena, ih, id_buf, start, length)
        before[i] = meta[slot, REF] if slot >= 0 else NO_ENTRY
        if ops[i] == UPSERT:
            if slot >= 0:
                table_delete(table, meta, entry_hash(meta, slot), slot)
            else:
                if state[STATE_FREE] > 0:
                    state[STATE_FREE] -= 1
                    slot = free[state[STATE_FREE]]
                else:
                    slot = state[STATE_NEXT]
                    state[STATE_NEXT] += 1
                used = state[STATE_ID_USED]
                for j in range(length):
                    id_arena[used + j] = id_buf[start + j]
                id_ref[slot] = (uint64(used) << ID_LEN_BITS) | uint64(length)
                state[STATE_ID_USED] = used + length
                id_insert(ids, ih, slot)
                state[STATE_LIVE] += 1
            store_entry(meta, slot, expires_at[i], spaces[i], attrs[i], h1[i], h2[i])
            aux[slot] = aux_in[i]
            table_insert(table, h1[i], slot)
        elif ops[i] == DELETE and slot >= 0:
            table_delete(table, meta, entry_hash(meta, slot), slot)
            id_delete(ids, id_ref, id_arena, ih, slot)
            clear_entry(meta, slot)
            aux[slot] = 0
            id_ref[slot] = 0
            state[STATE_ID_GARBAGE] += length
            free[state[STATE_FREE]] = slot
            state[STATE_FREE] += 1
            state[STATE_LIVE] -= 1
