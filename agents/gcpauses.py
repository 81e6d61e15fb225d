"""Python's garbage collector in a worker: its pauses measured.

A full (generation 2) collection holds the event loop while it visits every tracked object.
When a worker held one `WatchlistEntry` per entry that took 330 ms at 10^6 entries (2-core
VM), enough for one pause to take a stream's p99 past the contract's second. The watchlist
is now numpy arrays (`tables/index.py`), which a collection does not walk; the pauses stay
measured so that a regression shows (`vigil_gc_pause_seconds`, and `gc_max_pause_s` in
`vigil loadtest watchlist-bench`).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Histogram


def observe_gc_pauses(pauses: Histogram) -> Callable[[], None]:
    """Observe every collection's pause in `pauses` (label: generation); return the
    function that stops observing."""
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        # Collections never nest and hold the GIL, so one start time serves every thread.
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.labels(str(info["generation"])).observe(time.perf_counter() - started[0])

    gc.callbacks.append(on_gc)
    return lambda: gc.callbacks.remove(on_gc)
