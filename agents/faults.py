"""Crash points for the fault tests: SIGKILL this worker at a chosen point of a batch.

Installed only when the setting `worker.crash_at` names a point (VIGIL_WORKER_CRASH_AT);
otherwise batches go straight to `streams.delivery.deliver` and carry none of this. A kill
from outside lands wherever the worker happens to be; these land exactly where the
at-least-once guarantee is at stake (streams/delivery.py), in the first batch with a hit
that gets there:

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
from collections.abc import Awaitable, Callable, Sequence

from streams.delivery import Destination, Outgoing, deliver

log = logging.getLogger(__name__)

POINTS = ("before_send", "mid_send", "after_send")

# How a batch's outputs are delivered: `streams.delivery.deliver`, or a crashing one.
Deliver = Callable[[Sequence[Outgoing], int], Awaitable[object]]


def _sigkill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def delivery(crash_at: str, hits_topic: Destination,
             kill: Callable[[], None] = _sigkill) -> Deliver:
    """Return the worker's batch delivery: plain `deliver` when `crash_at` is empty, else
    one that kills the process (`kill`; tests pass one that raises) at that point in the
    first batch that holds a hit for `hits_topic`."""
    if not crash_at:
        return deliver
    if crash_at not in POINTS:
        raise ValueError(f"crash point {crash_at!r}: not one of {', '.join(POINTS)}")

    def crash() -> None:
        log.critical("crash point %s reached: SIGKILL", crash_at)
        logging.shutdown()  # the line above reaches the log before the process is gone
        kill()

    async def deliver_then_crash(outgoing: Sequence[Outgoing], retries: int) -> None:
        hits = [m for m in outgoing if m.topic is hits_topic]
        if not hits:
            await deliver(outgoing, retries)
            return
        if crash_at == "mid_send":
            await deliver(hits[:len(hits) // 2], retries)
            for m in hits[len(hits) // 2:]:
                await m.topic.send(key=m.key, value=m.value)
        elif crash_at == "after_send":
            await deliver(outgoing, retries)
        crash()

    return deliver_then_crash
