"""Consumer lag as Kafka's tools count it: end offset minus the committed offset."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.types import TP
from prometheus_client import generate_latest

from agents.consumer_lag import (
    _LagExporter,
    consumer_lag,
    end_offsets,
    export_lag,
    member_lag,
)
from config.settings import load_settings
from tests.agents.fixtures import make_context

A, B, C = ("vigil.sensing", 0), ("vigil.sensing", 1), ("vigil.plates", 0)


def test_lag_is_end_minus_committed() -> None:
    assert consumer_lag({A: 120, B: 7}, {A: 100, B: 7}, {A: 0, B: 0}) == {A: 20, B: 0}


def test_without_a_committed_offset_everything_from_the_earliest_is_lag() -> None:
    # -1 is what OffsetFetch answers for a partition the group never committed.
    assert consumer_lag({A: 50, B: 50, C: 9}, {B: -1}, {A: 10, B: 0, C: 9}) == {
        A: 40, B: 50, C: 0}


def test_lag_is_never_negative() -> None:
    # The end offset is read before the committed one; a commit in between passes it.
    assert consumer_lag({A: 10}, {A: 12}, {A: 0}) == {A: 0}


def test_the_end_is_the_larger_of_list_offsets_and_the_fetched_high_watermark() -> None:
    # One 100,000-record batch: ListOffsets on the embedded broker says 1, the fetch 100,000.
    assert end_offsets({A: 1, B: 40, C: 5}, {A: 100_000, B: 30, C: None}) == {
        A: 100_000, B: 40, C: 5}


class FakeConsumer:
    """What the exporter reads from Faust's consumer: the assignment and offsets."""

    def __init__(self, assigned: set[tuple[str, int]], end: dict,
                 fetched: dict | None = None) -> None:
        self.assigned, self.end, self.fetched = assigned, end, fetched or {}

    def assignment(self) -> set[TP]:
        return {TP(*tp) for tp in self.assigned}

    async def highwaters(self, *tps: TP) -> dict:
        return {tp: self.end[tuple(tp)] for tp in tps}

    def highwater(self, tp: TP) -> int | None:
        return self.fetched.get(tuple(tp))

    async def earliest_offsets(self, *tps: TP) -> dict:
        return dict.fromkeys(tps, 0)


class FakeAdmin:
    def __init__(self, committed: dict) -> None:
        self.committed = committed

    async def list_consumer_group_offsets(self, group_id: str, partitions: list) -> dict:
        assert group_id == "vigil"
        return {tp: SimpleNamespace(offset=self.committed.get(tuple(tp), -1)) for tp in partitions}


def test_exporter_keeps_series_to_the_partitions_this_worker_owns() -> None:
    settings = load_settings(env={})
    ctx = make_context(settings)
    consumer = FakeConsumer({A, B, ("vigil-__assignor-__leader", 0)},
                            {A: 30, B: 5, ("vigil-__assignor-__leader", 0): 9})
    app = SimpleNamespace(consumer=consumer, conf=SimpleNamespace(id="vigil"))
    exporter = _LagExporter(app, ctx)
    exporter.admin = FakeAdmin({A: 10})

    def lag(partition: int) -> float | None:
        return ctx.metrics.registry.get_sample_value(
            "vigil_consumer_lag_messages", {"topic": "vigil.sensing", "partition": str(partition)})

    asyncio.run(exporter.refresh())
    assert (lag(0), lag(1)) == (20, 5)
    # Faust's own topics are not the input: no series for them.
    assert "__assignor" not in generate_latest(ctx.metrics.registry).decode()
    consumer.assigned = {A}  # a rebalance moved partition 1 to another worker
    asyncio.run(exporter.refresh())
    assert (lag(0), lag(1)) == (20, None)


def test_exporter_counts_a_large_batch_the_fetch_reported() -> None:
    settings = load_settings(env={})
    ctx = make_context(settings)
    consumer = FakeConsumer({A}, {A: 1}, fetched={A: 100_000})
    exporter = _LagExporter(SimpleNamespace(consumer=consumer, conf=SimpleNamespace(id="vigil")),
                            ctx)
    exporter.admin = FakeAdmin({A: 0})
    asyncio.run(exporter.refresh())
    assert ctx.metrics.consumer_lag.labels(*A[:1], "0")._value.get() == 100_000


class FakeMember:
    """An aiokafka group member as member_lag reads it."""

    def __init__(self, end: dict, fetched: dict, committed: dict) -> None:
        self.end, self.fetched, self._committed = end, fetched, committed

    def assignment(self) -> set[TP]:
        return {TP(*tp) for tp in self.end}

    async def end_offsets(self, tps: list) -> dict:
        return {tp: self.end[tuple(tp)] for tp in tps}

    async def beginning_offsets(self, tps: list) -> dict:
        return dict.fromkeys(tps, 0)

    async def committed(self, tp: TP) -> int | None:
        return self._committed.get(tuple(tp))

    def highwater(self, tp: TP) -> int | None:
        return self.fetched.get(tuple(tp))


def test_a_group_members_lag_counts_like_fausts() -> None:
    W0, W1 = ("vigil.watchlist", 0), ("vigil.watchlist", 1)
    member = FakeMember({W0: 1, W1: 40}, {W0: 5_000}, {W0: 1_000})
    # W0: fetched end 5,000 past ListOffsets' 1, committed 1,000; W1: nothing committed.
    assert asyncio.run(member_lag(member)) == {W0: 4_000, W1: 40}


def test_exported_series_follow_the_assignment() -> None:
    metrics = make_context().metrics
    exported = export_lag(metrics.consumer_lag, {A: 3, B: 4}, set())
    assert 'partition="1",topic="vigil.sensing"} 4.0' in generate_latest(
        metrics.registry).decode()
    exported = export_lag(metrics.consumer_lag, {A: 0}, exported)
    text = generate_latest(metrics.registry).decode()
    assert exported == {("vigil.sensing", "0")}
    assert 'partition="1"' not in text and 'partition="0",topic="vigil.sensing"} 0.0' in text
