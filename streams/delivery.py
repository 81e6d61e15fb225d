"""Send a batch's outputs and wait until the broker has every one of them.

FAUST-NOTES section 1: an event is acked when the agent body returns, and an exception
leaving the agent acks it too. So sends are awaited before returning, failed sends are
retried, and when the broker will not take them the process exits without acking: the
records are consumed again after a restart, as after kill -9.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

log = logging.getLogger(__name__)


class Destination(Protocol):
    """Where a message goes: a Faust topic, or a PooledTopic (streams/output_producers.py)."""

    async def send(self, *, key: bytes | None, value: bytes) -> asyncio.Future:
        """Queue one message; return its delivery future."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to produce."""

    topic: Destination
    key: bytes | None
    value: bytes


def _exit_unacked() -> NoReturn:
    os._exit(70)


async def _send(message: Outgoing) -> asyncio.Future:
    """Queue `message`; a send that raises at once becomes a failed future, to be retried."""
    try:
        return await message.topic.send(key=message.key, value=message.value)
    except Exception as exc:
        failed = asyncio.get_running_loop().create_future()
        failed.set_exception(exc)
        return failed


async def deliver(
    messages: Sequence[Outgoing],
    retries: int,
    backoff_s: float = 0.2,
    give_up: Callable[[], NoReturn] = _exit_unacked,
) -> list[Any]:
    """Produce `messages` and wait for the broker's acks; retry failures, then `give_up`.
    Return each message's ack (the record's metadata: partition, offset), in their order."""
    acks: list[Any] = [None] * len(messages)
    pending = list(range(len(messages)))
    for attempt in range(retries + 1):
        futures = [await _send(messages[i]) for i in pending]
        results = await asyncio.gather(*futures, return_exceptions=True)
        for i, result in zip(pending, results, strict=True):
            acks[i] = result
        pending = [i for i, r in zip(pending, results, strict=True) if isinstance(r, BaseException)]
        if not pending:
            return acks
        errors = {type(r).__name__ for r in results if isinstance(r, BaseException)}
        log.warning("%d sends failed (%s), attempt %d of %d", len(pending), ", ".join(errors),
                    attempt + 1, retries + 1)
        await asyncio.sleep(backoff_s * 2**attempt)
    log.critical("giving up on %d sends: exiting without acking the batch", len(pending))
    give_up()
