from __future__ import annotations

import asyncio
import itertools

from aiokafka.partitioner import DefaultPartitioner

from agents.output_producers import OutputProducers


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, int | None]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2, 3}

    async def send(self, topic, value, key=None, partition=None):
        self.sent.append((topic, key, partition))
        return asyncio.get_running_loop().create_future()


def pooled(count: int = 4) -> tuple[OutputProducers, list[FakeProducer]]:
    outputs = OutputProducers("unused:9092", one_record_per_batch=True, count=count)
    fakes = [FakeProducer() for _ in range(count)]
    outputs._producers = fakes
    outputs._turn = itertools.cycle(fakes)
    outputs._ready.set()
    return outputs, fakes


def test_each_partition_of_a_one_writer_topic_has_one_producer() -> None:
    async def go() -> list[FakeProducer]:
        outputs, fakes = pooled()
        hits = outputs.topic("hits", one_writer_per_partition=True)
        for i in range(200):
            await hits.send(key=b"E-%d" % (i % 37), value=b"v")
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
        for _ in range(8):
            await dlq.send(key=b"vigil.sensing", value=b"v")
        return fakes

    assert [len(f.sent) for f in asyncio.run(go())] == [2, 2, 2, 2]
