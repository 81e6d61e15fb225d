"""What refused requests may cost, without a broker: a token bucket per remote address, the
summaries that audit refusals, and the cap on open streams per token.

Each takes the time from a `Clock` (epoch ms), so the tests drive it by hand.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

from schemas.audit_events import refusal_summary_event
from schemas.clock import Clock, now_ms

# Addresses whose buckets are remembered at once; the least recently refused is forgotten
# first (it then starts again with a full burst).
MAX_ADDRESSES = 100_000
# (address, reason) pairs summarised per interval; refusals past it are summarised under
# OTHER_ADDRESS, so a caller with many addresses cannot grow one interval's events.
MAX_SUMMARIES = 1_000
OTHER_ADDRESS = "other"


class RateLimiter:
    """A token bucket per key (a remote address): `burst` at once, then `per_minute`."""

    def __init__(self, per_minute: int, burst: int, clock: Clock = now_ms,
                 max_keys: int = MAX_ADDRESSES) -> None:
        self.rate_per_ms = per_minute / 60_000
        self.burst = float(burst)
        self.clock = clock
        self.max_keys = max_keys
        # key -> (tokens, time they were counted)
        self._buckets: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def _tokens(self, key: str, now: int) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + max(0, now - at) * self.rate_per_ms)

    def allow(self, key: str) -> bool:
        """Take one token from `key`'s bucket; False (nothing taken) when it is empty."""
        now = self.clock()
        tokens = self._tokens(key, now)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed

    def retry_after_s(self, key: str) -> int:
        """Return the whole seconds until `key`'s bucket holds a token again (at least 1)."""
        missing = 1 - self._tokens(key, self.clock())
        return max(1, math.ceil(missing / self.rate_per_ms / 1000))

    def prune(self) -> None:
        """Forget the buckets that have refilled (they hold nothing a new one would not)."""
        now = self.clock()
        for key in [k for k in self._buckets if self._tokens(k, now) >= self.burst]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


def cut(text: str | None, most: int) -> str | None:
    """Return `text` cut to `most` characters (an ellipsis marks a cut), or None."""
    if text is None or len(text) <= most:
        return text
    return text[:most - 1] + "…"


@dataclass
class _Summary:
    first_at: int
    status: int
    sample: dict[str, Any]
    count: int = 0
    last_at: int = 0


class RefusalSummariser:
    """Collects refused requests into one audit event per (remote address, reason) per
    interval: the count, the first and last time, and the first request as a sample, every
    field of it cut short. `due()` returns the summaries whose interval has passed."""

    FIELD_CHARS = 80

    def __init__(self, interval_ms: int, clock: Clock = now_ms,
                 max_summaries: int = MAX_SUMMARIES) -> None:
        self.interval_ms = interval_ms
        self.clock = clock
        self.max_summaries = max_summaries
        self._open: dict[tuple[str, str], _Summary] = {}

    def note(self, *, remote: str | None, reason: str, status: int, method: str, path: str,
             detail: str, subscriber: str | None) -> None:
        """Count one refused request."""
        now = self.clock()
        where = cut(remote or "unknown", self.FIELD_CHARS) or "unknown"
        key = (where, reason)
        if key not in self._open and len(self._open) >= self.max_summaries:
            key = (OTHER_ADDRESS, reason)
        summary = self._open.get(key)
        if summary is None:
            summary = self._open[key] = _Summary(now, status, {
                "method": cut(method, 16), "path": cut(path, self.FIELD_CHARS),
                "detail": cut(detail, self.FIELD_CHARS),
                "subscriber": cut(subscriber, self.FIELD_CHARS)})
        summary.count += 1
        summary.last_at = now

    def _event(self, key: tuple[str, str], s: _Summary, now: int) -> dict[str, Any]:
        return refusal_summary_event(
            remote=key[0], reason=key[1], status=s.status, count=s.count,
            first_at=s.first_at, last_at=s.last_at, sample=s.sample, at_ms=now)

    def due(self) -> list[dict[str, Any]]:
        """Return (and forget) the summaries whose interval has passed."""
        now = self.clock()
        done = [k for k, s in self._open.items() if now - s.first_at >= self.interval_ms]
        return [self._event(k, self._open.pop(k), now) for k in done]

    def drain(self) -> list[dict[str, Any]]:
        """Return (and forget) every summary, due or not (the worker is stopping)."""
        now = self.clock()
        events = [self._event(k, s, now) for k, s in self._open.items()]
        self._open.clear()
        return events

    def __len__(self) -> int:
        return len(self._open)


class StreamSlots:
    """Open hit streams per token holder, at most `most` each."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._open: Counter[str] = Counter()

    def acquire(self, name: str) -> bool:
        """Count one more stream of `name`; False (nothing counted) when it holds `most`."""
        if self._open[name] >= self.most:
            return False
        self._open[name] += 1
        return True

    def release(self, name: str) -> None:
        """Count one stream of `name` less."""
        self._open[name] -= 1
        if self._open[name] <= 0:
            del self._open[name]

    def held(self, name: str) -> int:
        """Return how many streams `name` holds open."""
        return self._open[name]
