"""Crash points for the fault tests: SIGKILL this worker at a chosen point of a batch.

Off unless the environment variable VIGIL_CRASH_AT names a point. A kill from outside lands
wherever the worker happens to be; these land exactly where the at-least-once guarantee is
at stake (streams/delivery.py), in the first batch with a hit that gets there:

- `before_send`: the batch is matched, none of its hits is handed to a producer;
- `mid_send`: half of its hits (rounded down) acknowledged by the broker, the others handed
  to the producers and not waited for (they may or may not reach the broker);
- `after_send`: every hit acknowledged, the batch not yet acked to Faust, so its offsets
  are not committed.

Used by tests/integration/test_crash.py and `vigil loadtest crash`.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Sequence

from streams.delivery import Destination, Outgoing, deliver

log = logging.getLogger(__name__)

CRASH_AT_ENV = "VIGIL_CRASH_AT"
POINTS = ("before_send", "mid_send", "after_send")


def _sigkill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class CrashPoint:
    """Where (if anywhere) this worker kills itself while delivering a batch's outputs."""

    def __init__(self, point: str | None, kill: Callable[[], None] = _sigkill) -> None:
        """`kill` ends the process (tests pass one that raises instead)."""
        if point is not None and point not in POINTS:
            raise ValueError(f"{CRASH_AT_ENV}={point!r}: not one of {', '.join(POINTS)}")
        self.point = point
        self._kill = kill

    @classmethod
    def from_env(cls) -> CrashPoint:
        """The crash point named by VIGIL_CRASH_AT (none when unset or empty)."""
        return cls(os.environ.get(CRASH_AT_ENV) or None)

    def _crash(self, point: str) -> None:
        log.critical("crash point %s reached: SIGKILL", point)
        logging.shutdown()  # the line above reaches the log before the process is gone
        self._kill()

    async def deliver(self, outgoing: Sequence[Outgoing], hits_topic: Destination | None,
                      retries: int) -> None:
        """Deliver `outgoing` like `streams.delivery.deliver`, killing the process on the way
        at this crash point when the batch holds a hit."""
        hits = [m for m in outgoing if m.topic is hits_topic] if self.point else []
        if not hits:
            await deliver(outgoing, retries)
            return
        if self.point == "mid_send":
            await deliver(hits[:len(hits) // 2], retries)
            for m in hits[len(hits) // 2:]:
                await m.topic.send(key=m.key, value=m.value)
        elif self.point == "after_send":
            await deliver(outgoing, retries)
        self._crash(self.point)
