"""The wall clock in epoch milliseconds, the unit of every timestamp in the contract.

Code that needs the time takes a `Clock` (or calls `now_ms`), so a test can set it.
"""

from __future__ import annotations

import time
from typing import Protocol


def now_ms() -> int:
    """Return the wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class Clock(Protocol):
    """Anything that tells the time in epoch milliseconds."""

    def __call__(self) -> int: ...


class ManualClock:
    """A clock a test sets and advances by hand."""

    def __init__(self, start_ms: int = 0) -> None:
        self.ms = start_ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        """Move the clock `ms` milliseconds on."""
        self.ms += ms
