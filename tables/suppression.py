"""Hit suppression: per (entry_id, location_id), the observed time of the last hit.

The state is derived from `vigil.hits` itself (see agents/suppression.py): every worker
reads back the recent hits of all workers, so whichever worker a location's partition
moves to already knows its last hits, with no changelog topic and no recovery step on a
rebalance, and the state always agrees with what subscribers were sent.
"""

from __future__ import annotations

from schemas.hits import Hit


class Suppression:
    """Decides, in processing order, which matches become hits.

    A match of (entry, location) observed within `window_ms` of that pair's last hit (in
    observed time, either side, so a replay of the same records suppresses the same way)
    is suppressed; otherwise it becomes a hit and the pair's last hit time moves to it.
    """

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._last: dict[tuple[str, str], int] = {}
        self.newest_ms = 0  # latest observed time seen: pruning follows observed time too

    def __len__(self) -> int:
        return len(self._last)

    def admit(self, hit: Hit) -> bool:
        """Return True when `hit` is to be sent (and remember it), False when suppressed."""
        key = (hit.entry_id, hit.location_id)
        last = self._last.get(key)
        if last is not None and abs(hit.observed_ts - last) < self.window_ms:
            return False
        self._last[key] = hit.observed_ts if last is None else max(last, hit.observed_ts)
        self.newest_ms = max(self.newest_ms, hit.observed_ts)
        return True

    def remember(self, entry_id: str, location_id: str, observed_ts: int) -> None:
        """Record a hit read back from the hits topic (produced here or by another worker)."""
        key = (entry_id, location_id)
        self._last[key] = max(self._last.get(key, observed_ts), observed_ts)
        self.newest_ms = max(self.newest_ms, observed_ts)

    def forget_before(self, observed_ms: int) -> int:
        """Drop pairs whose last hit was observed before `observed_ms`; return how many.

        Bounds memory: only hits younger than the window can suppress anything."""
        old = [k for k, ts in self._last.items() if ts < observed_ms]
        for k in old:
            del self._last[k]
        return len(old)
