from __future__ import annotations

import asyncio
import itertools

from aiokafka.partitioner import DefaultPartitioner

from streams.output_producers import OutputProducers


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, int | None]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2, 3}

    async def stop(self) -> None:
        pass

    async def send(self, topic, value, key=None, partition=None):
        self.sent.append((topic, key, partition))
        delivered = asyncio.get_running_loop().create_future()
        delivered.set_result(len(self.sent))
        return delivered


class OneBatchInFlightProducer(FakeProducer):
    """Like aiokafka with one record per batch: `send` waits while the partition's last
    record is undelivered; the test delivers them."""

    def __init__(self) -> None:
        super().__init__()
        self.undelivered: dict[int | None, asyncio.Future] = {}
        self.values: list[bytes] = []

    async def send(self, topic, value, key=None, partition=None):
        while partition in self.undelivered:
            await asyncio.shield(self.undelivered[partition])
        self.values.append(value)
        delivered = self.undelivered[partition] = asyncio.get_running_loop().create_future()
        delivered.add_done_callback(lambda _f: self.undelivered.pop(partition))
        return delivered


def pooled(count: int = 4, fake=FakeProducer) -> tuple[OutputProducers, list]:
    outputs = OutputProducers("unused:9092", one_record_per_batch=True, count=count)
    fakes = [fake() for _ in range(count)]
    outputs._producers = fakes
    outputs._turn = itertools.cycle(range(count))
    outputs._ready.set()
    return outputs, fakes


def test_each_partition_of_a_one_writer_topic_has_one_producer() -> None:
    async def go() -> list[FakeProducer]:
        outputs, fakes = pooled()
        hits = outputs.topic("hits", one_writer_per_partition=True)
        await asyncio.gather(*[await hits.send(key=b"E-%d" % (i % 37), value=b"v")
                               for i in range(200)])
        return fakes

    fakes = asyncio.run(go())
    writers: dict[int, set[int]] = {}
    for n, fake in enumerate(fakes):
        for _, key, partition in fake.sent:
            # The partition is the one Kafka's default partitioner picks for the key.
            assert partition == DefaultPartitioner()(key, [0, 1, 2, 3], [0, 1, 2, 3])
            writers.setdefault(partition, set()).add(n)
    assert all(len(w) == 1 for w in writers.values())
    assert len(writers) > 1


def test_other_topics_go_round_robin() -> None:
    async def go() -> list[FakeProducer]:
        outputs, fakes = pooled()
        dlq = outputs.topic("deadletter", one_writer_per_partition=False)
        await asyncio.gather(*[await dlq.send(key=b"vigil.sensing", value=b"v")
                               for _ in range(8)])
        return fakes

    assert [len(f.sent) for f in asyncio.run(go())] == [2, 2, 2, 2]


def test_queueing_does_not_wait_for_delivery_and_keeps_order() -> None:
    async def go() -> tuple[list[bytes], list]:
        outputs, fakes = pooled(count=1, fake=OneBatchInFlightProducer)
        hits = outputs.topic("hits", one_writer_per_partition=True)
        # All 50 are queued although the producer holds one undelivered record per partition.
        futures = [await hits.send(key=b"E-1", value=b"%d" % i) for i in range(50)]
        delivered = []
        while len(delivered) < 50:
            await asyncio.sleep(0)
            for pending in list(fakes[0].undelivered.values()):
                pending.set_result(len(delivered))
                delivered.append(pending)
        results = await asyncio.gather(*futures)
        await outputs.on_stop()
        return fakes[0].values, results

    values, results = asyncio.run(go())
    assert values == [b"%d" % i for i in range(50)]  # one partition: in the order queued
    assert results == list(range(50))  # each future carries its own record's outcome


def test_a_failed_send_fails_only_its_own_future() -> None:
    class Refusing(FakeProducer):
        async def send(self, topic, value, key=None, partition=None):
            if value == b"bad":
                raise RuntimeError("refused")
            return await super().send(topic, value, key, partition)

    async def go() -> list:
        outputs, _ = pooled(count=2, fake=Refusing)
        dlq = outputs.topic("deadletter", one_writer_per_partition=False)
        futures = [await dlq.send(key=b"k", value=v) for v in (b"a", b"bad", b"c")]
        return await asyncio.gather(*futures, return_exceptions=True)

    a, bad, c = asyncio.run(go())
    assert isinstance(bad, RuntimeError) and not isinstance(a, Exception)
    assert not isinstance(c, Exception)
