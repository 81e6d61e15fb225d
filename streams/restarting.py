"""Run a long-lived reader for the life of the worker, restarting it when it fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def keep_running(name: str, run: Callable[[], Awaitable[None]],
                       pause_s: float = 1.0) -> None:
    """Await `run()` again and again (it returns to be started over, e.g. from the beginning
    of its topic); a failure is logged and retried after `pause_s`. Only cancellation ends it:
    this task's own. A CancelledError raised while this task is not being cancelled comes
    from a client's own task (aiokafka's consumer can let one out of `stop()` while its
    broker is gone) and is a failure like any other, or the reader would end for good."""
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
            log.warning("%s: a CancelledError not meant for it (a client's task); "
                        "restarting it", name)
            await asyncio.sleep(pause_s)
        except Exception:
            log.exception("%s failed; restarting it", name)
            await asyncio.sleep(pause_s)
