"""Producers for hits and dead letters: several connections, so several requests in flight.

aiokafka keeps one produce request in flight per connection; with one record per produce
batch (embedded broker) a single producer delivers one record per partition per round
trip, far too slow for dead letters at 200,000 records/s. Hits go through one producer per
partition (concurrent writers to a partition can become visible out of order on the
embedded broker), dead letters round-robin; each lane has one task feeding aiokafka in
order. Measurements and the reasoning: docs/architecture.md, "Output producers".
"""

from __future__ import annotations

import asyncio
import functools
import itertools

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from mode import Service

from config.settings import Settings
from streams.brokercheck import aiokafka_producer_kwargs
from streams.security import aiokafka_security

# One per partition of the hits topic (4 by default). Measured on the embedded broker, one
# record per batch: 20,000 300-byte records keyed over 4 partitions, 6,200/s with a
# producer per partition, 10,400-12,100/s round-robin (hits are far rarer than that);
# 3,000 small records to one partition, 1 producer 2,100/s, 4 producers 4,000/s.
POOLED_PRODUCERS = 4


class OutputProducers(Service):
    """A few aiokafka producers started and stopped with the app; each partition's records
    go through one of them."""

    def __init__(self, bootstrap: str, one_record_per_batch: bool,
                 count: int = POOLED_PRODUCERS, settings: Settings | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self._bootstrap = bootstrap
        self._settings = settings  # how they connect (streams/security.py); None: PLAINTEXT
        self._one = one_record_per_batch
        # With normal batching one producer already packs many records into a request.
        self._count = count if one_record_per_batch else 1
        self._producers: list[AIOKafkaProducer] = []
        self._partitions: dict[str, list[int]] = {}
        self._partitioner = DefaultPartitioner()
        self._turn: itertools.cycle | None = None
        self._lanes: dict[tuple[str, int | None, int], _Lane] = {}
        self._ready = asyncio.Event()

    async def on_start(self) -> None:
        """Start the producers (aiokafka needs the running loop, so not in __init__)."""
        security = aiokafka_security(self._settings)
        for i in range(self._count):
            producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all",
                                        client_id=f"vigil-output-{i}",
                                        **aiokafka_producer_kwargs(self._one), **security)
            await producer.start()
            self._producers.append(producer)
        self._turn = itertools.cycle(range(self._count))
        self._ready.set()

    async def on_stop(self) -> None:
        """Stop the lanes and the producers; Faust stops its consumer and drains the agents
        first, so the lanes are empty by then."""
        lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            lane.close()
        producers, self._producers = self._producers, []
        for producer in producers:
            await producer.stop()

    async def send(self, topic: str, key: bytes | None, value: bytes,
                   one_writer_per_partition: bool) -> asyncio.Future:
        """Queue one record, on the lane of its partition or on the next lane; return its
        delivery future."""
        await self._ready.wait()
        assert self._turn is not None
        partition: int | None = None
        if one_writer_per_partition:
            parts = self._partitions.get(topic)
            if parts is None:
                parts = self._partitions[topic] = sorted(
                    await self._producers[0].partitions_for(topic))
            partition = self._partitioner(key, parts, parts)
            index = partition % len(self._producers)
        else:
            index = next(self._turn)
        lane = self._lanes.get((topic, partition, index))
        if lane is None:
            lane = self._lanes[(topic, partition, index)] = _Lane(
                self._producers[index], topic, partition)
        return lane.put(key, value)

    def topic(self, name: str, one_writer_per_partition: bool) -> PooledTopic:
        """Return a destination for `deliver` that sends to `name` through these producers."""
        return PooledTopic(self, name, one_writer_per_partition)


class _Lane:
    """Records for one producer and partition (None: the producer's partitioner picks),
    handed to the producer in the order queued, by one task."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partition: int | None) -> None:
        self._queue: asyncio.Queue[tuple[bytes | None, bytes, asyncio.Future]] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(producer, topic, partition))

    def put(self, key: bytes | None, value: bytes) -> asyncio.Future:
        """Queue one record; return the future of its delivery."""
        result = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((key, value, result))
        return result

    def close(self) -> None:
        """Stop the task; records still queued fail, so their batch is not acked."""
        self._task.cancel()
        while not self._queue.empty():
            _, _, result = self._queue.get_nowait()
            _settle(result, RuntimeError("output producers stopped"))

    async def _run(self, producer: AIOKafkaProducer, topic: str, partition: int | None) -> None:
        while True:
            key, value, result = await self._queue.get()
            try:
                sent = await producer.send(topic, value, key=key, partition=partition)
            except asyncio.CancelledError:
                _settle(result, RuntimeError("output producers stopped"))
                raise
            except Exception as exc:  # deliver() retries the record
                _settle(result, exc)
            else:
                sent.add_done_callback(functools.partial(_copy_outcome, result))


def _copy_outcome(result: asyncio.Future, sent: asyncio.Future) -> None:
    if sent.cancelled():
        _settle(result, RuntimeError("send cancelled"))
    elif sent.exception() is not None:
        _settle(result, sent.exception())
    else:
        _settle(result, sent.result())


def _settle(result: asyncio.Future, outcome: object) -> None:
    if result.done():
        return
    if isinstance(outcome, BaseException):
        result.set_exception(outcome)
    else:
        result.set_result(outcome)


class PooledTopic:
    """A topic name bound to OutputProducers, sendable like a Faust topic by `deliver`."""

    def __init__(self, producers: OutputProducers, name: str,
                 one_writer_per_partition: bool) -> None:
        self.producers = producers
        self.name = name
        self.one_writer_per_partition = one_writer_per_partition

    async def send(self, *, key: bytes | None, value: bytes) -> asyncio.Future:
        """Queue one record; return its delivery future."""
        return await self.producers.send(self.name, key, value, self.one_writer_per_partition)
