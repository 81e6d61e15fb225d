"""Run a long-lived reader for the life of the worker, restarting it when it fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def keep_running(name: str, run: Callable[[], Awaitable[None]],
                       pause_s: float = 1.0) -> None:
    """Await `run()` again and again (it returns to be started over, e.g. from the beginning
    of its topic); a failure is logged and retried after `pause_s`. Only cancellation ends it."""
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; restarting it", name)
            await asyncio.sleep(pause_s)
