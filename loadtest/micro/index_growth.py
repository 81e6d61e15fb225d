"""The watchlist index's growth, as matching sees it: index-bench's growth figures.

An index whose key table passes half full doubles it, rehashing every entry. Done in
place (`WatchlistIndex.apply`) that holds the event loop, and so matching, for the whole
rebuild; the worker's reader builds it aside in a thread instead (`WatchlistIndex.grown`,
agents/watchlist.py `grow_meanwhile`). Both are measured here on the same index: a batch
of upserts that makes the table double, applied once each way, while an asyncio timer
that matches a key every 5 ms runs on the loop; the figure is how late that timer got.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from tables.index import WatchlistIndex, key_words
from tables.index_arrays import MAX_LOAD, MIN_TABLE

TICK_S = 0.005
MAC_SPACE = 1
FAR_FUTURE_MS = 4_000_000_000_000


def doubling_point(entries: int) -> int:
    """Return the largest size at most `entries` (at least the smallest table's) at which
    the key table is exactly half full: one more entry doubles it."""
    size = MIN_TABLE
    while MAX_LOAD * size * 2 <= entries:
        size *= 2
    return int(MAX_LOAD * size)


def _full_index(entries: int) -> WatchlistIndex:
    index = WatchlistIndex(b"growth")
    keys = [f"{i:012x}".encode() for i in range(entries)]
    index.build([f"W-{i}" for i in range(entries)], np.full(entries, MAC_SPACE, np.uint8),
                key_words(keys), np.full(entries, FAR_FUTURE_MS, np.int64))
    return index


def _upserts(n: int) -> tuple:
    ids = [f"G-{i}".encode() for i in range(n)]
    keys = key_words([f"g{i:011x}".encode() for i in range(n)])
    return (np.full(n, 1, np.uint8), ids, np.full(n, MAC_SPACE, np.uint8), keys,
            np.full(n, FAR_FUTURE_MS, np.int64), np.zeros(n, np.uint64), np.zeros(n, np.uint64))


async def _longest_late(index: WatchlistIndex, grow: bool, batch: tuple) -> tuple[float, float]:
    """Apply `batch` (growing the table first in a thread when `grow`) beside a 5 ms
    matching timer; return the seconds the apply took and the timer's longest lateness."""
    stop, late = asyncio.Event(), [0.0]
    probe = key_words([b"000000000001"])

    async def tick() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(TICK_S)
            late.append(time.perf_counter() - started - TICK_S)
            index.match(np.ones(1, np.uint8), probe, 0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(5 * TICK_S)
    started = time.perf_counter()
    if grow:
        room = await asyncio.to_thread(index.grown, len(batch[0]), sum(map(len, batch[1])))
        if room is None or not index.adopt(room):
            raise AssertionError("the batch was meant to grow the index")
    index.apply(*batch)
    took = time.perf_counter() - started
    await asyncio.sleep(5 * TICK_S)
    stop.set()
    await ticker
    return took, max(late)


def measure_growth(entries: int) -> dict:
    """Return the growth figures of an index of `entries` (taken at `doubling_point`)."""
    at = doubling_point(entries)
    batch = _upserts(1000)
    results = {}
    for name, grow in (("in_place", False), ("meanwhile", True)):
        index = _full_index(at)
        table = index.table_nbytes
        took, late = asyncio.run(_longest_late(index, grow, batch))
        if index.table_nbytes <= table:
            raise AssertionError("the key table did not double")
        results[name] = (took, late)
    return {"entries": at, "in_place_apply_s": results["in_place"][0],
            "in_place_loop_late_s": results["in_place"][1],
            "meanwhile_apply_s": results["meanwhile"][0],
            "meanwhile_loop_late_s": results["meanwhile"][1]}
