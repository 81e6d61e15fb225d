"""A surge in the bench's traffic: every stream's rate times a factor for a window.

The send schedule is piecewise: the normal rate before the surge, `factor` times it during
the surge, the normal rate again after it. Each piece is scheduled on its own, so a message
is never due in the middle of two rates and the records sent per piece are what its rate
and length say.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Surge:
    """Rates times `factor` from `at_s` seconds into the traffic, for `for_s` seconds."""

    factor: float
    at_s: float
    for_s: float

    @property
    def end_s(self) -> float:
        """Return when the surge ends, in seconds since the traffic started."""
        return self.at_s + self.for_s


def rate_pieces(rate: float, duration_s: float, surge: Surge | None
                ) -> list[tuple[float, float, float]]:
    """Return (start s, end s, records/s) pieces covering [0, duration_s), in order.

    Pieces of zero length are left out (a surge at 0, or one that reaches past the end).
    """
    if surge is None:
        return [(0.0, duration_s, rate)]
    at = min(max(0.0, surge.at_s), duration_s)
    end = min(max(at, surge.end_s), duration_s)
    pieces = [(0.0, at, rate), (at, end, rate * surge.factor), (end, duration_s, rate)]
    return [p for p in pieces if p[1] > p[0]]


def due_times(records_per_message: int, rate: float, duration_s: float,
              surge: Surge | None = None) -> Iterator[float]:
    """Yield when each message is due, in seconds since the traffic started.

    Within a piece of rate r, message k is due at start + k × records / r, so without a
    surge message i is due at i × records / rate, as the bench always scheduled it.
    """
    for start, end, piece_rate in rate_pieces(rate, duration_s, surge):
        per_message_s = records_per_message / piece_rate
        for k in range(int((end - start) / per_message_s)):
            yield start + k * per_message_s
