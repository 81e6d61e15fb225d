"""Write many small values to one topic in large produce batches, and wait for the acks.

For a topic whose readers take the end from fetch responses (streams/readto.py), such as
`vigil.audit`, so it may batch on every broker (BROKER.md defect 1 is in ListOffsets).
Each value stays one Kafka record; the records go out in batches built directly
(`create_batch`/`send_batch`), which costs a few microseconds a record instead of a
coroutine and a future each. As in streams/delivery.py, failed batches are retried and,
when the broker will not take them, the process exits without committing its input.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer

from config.settings import Settings
from streams.security import aiokafka_security

log = logging.getLogger(__name__)

# The largest produce batch (bytes); a record larger than this goes in a batch of its own.
BATCH_BYTES = 1 << 20


def _exit_unacked() -> None:
    os._exit(70)


class BatchWriter:
    """One producer writing values to `topic`, batch after batch, partitions in turn."""

    def __init__(self, bootstrap: str, topic: str, settings: Settings, *, client_id: str,
                 retries: int, backoff_s: float = 0.2,
                 give_up: Callable[[], None] = _exit_unacked) -> None:
        self.topic = topic
        self._retries = retries
        self._backoff_s = backoff_s
        self._give_up = give_up
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, client_id=client_id, acks="all",
            max_batch_size=BATCH_BYTES, max_request_size=8 * BATCH_BYTES, linger_ms=0,
            **aiokafka_security(settings))
        self._partitions: itertools.cycle | None = None

    async def start(self) -> None:
        """Connect and learn the topic's partitions."""
        await self._producer.start()
        partitions = await self._producer.partitions_for(self.topic)
        self._partitions = itertools.cycle(sorted(partitions))

    async def stop(self) -> None:
        """Flush and close the producer."""
        await self._producer.stop()

    def _batches(self, values: Sequence[bytes]) -> list[tuple[int, object, list[bytes]]]:
        """Return (partition, batch, its values) covering `values` in order."""
        assert self._partitions is not None, "start() first"
        out: list[tuple[int, object, list[bytes]]] = []
        batch, held = self._producer.create_batch(), []
        for value in values:
            if batch.append(key=None, value=value, timestamp=None) is None:
                if held:
                    out.append((next(self._partitions), batch, held))
                batch, held = self._producer.create_batch(), []
                if batch.append(key=None, value=value, timestamp=None) is None:
                    raise ValueError(f"a record of {len(value)} bytes does not fit a batch")
            held.append(value)
        if held:
            out.append((next(self._partitions), batch, held))
        return out

    async def write(self, values: Sequence[bytes]) -> None:
        """Produce `values` (one record each) and return once the broker has every one;
        retry failed batches, then give up (by default: exit without committing)."""
        pending = list(values)
        for attempt in range(self._retries + 1):
            failed: list[bytes] = []
            sent = []
            for partition, batch, held in self._batches(pending):
                try:
                    sent.append((await self._producer.send_batch(batch, self.topic,
                                                                 partition=partition), held))
                except Exception as exc:
                    log.warning("audit batch not queued: %s: %s", type(exc).__name__, exc)
                    failed.extend(held)
            results = await asyncio.gather(*(f for f, _ in sent), return_exceptions=True)
            errors = {type(r).__name__ for r in results if isinstance(r, BaseException)}
            for (_, held), result in zip(sent, results, strict=True):
                if isinstance(result, BaseException):
                    failed.extend(held)
            if not failed:
                return
            pending = failed
            log.warning("%d records to %s failed (%s), attempt %d of %d", len(pending),
                        self.topic, ", ".join(errors) or "not queued", attempt + 1,
                        self._retries + 1)
            await asyncio.sleep(self._backoff_s * 2**attempt)
        log.critical("giving up on %d records to %s: exiting without committing the input",
                     len(pending), self.topic)
        self._give_up()
