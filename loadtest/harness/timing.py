"""Timing for the micro-benchmarks: the best of several runs, the figure least disturbed by
the rest of a shared machine."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_s(fn: Callable[[], object], repeats: int) -> float:
    """Return the shortest of `repeats` runs of `fn`, in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)
