"""Python's garbage collector in a worker: its pauses measured, the watchlist kept out of it.

A worker holds one `WatchlistEntry` per entry, and a full (generation 2) collection visits
every one while the event loop waits: 330 ms at 10^6 entries (measured on the 2-core VM,
`gc.collect(2)` beside a loaded `Watchlist`). Records in flight wait as long, so one such
pause can take a stream's p99 past the contract's second.
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


def freeze_long_lived() -> int:
    """Collect once, then leave every object alive now out of later collections
    (`gc.freeze`); return how many objects are frozen. Called once the watchlist is loaded,
    so full collections visit only what was made since. Entries deleted later are freed by
    reference counting as before; only reference cycles among frozen objects would stay,
    and entries form none."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
