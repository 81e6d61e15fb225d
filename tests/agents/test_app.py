"""The worker's Faust app is configured as the broker needs, without a broker."""

from __future__ import annotations

import asyncio
import dataclasses

import aiokafka

from agents.app import create_app
from agents.context import WorkerSetup
from agents.metrics import build_metrics
from config.settings import load_settings
from streams.delivery import deliver
from streams.topics import topic_names, watchlist_audit_group


def make_app(one_record_per_batch: bool, **env: str):
    settings = load_settings(env={"VIGIL_KAFKA_BOOTSTRAP": "127.0.0.1:1", **env})
    setup = WorkerSetup(settings=settings, bootstrap="127.0.0.1:1", topics=topic_names(settings),
                        metrics=build_metrics(), one_record_per_batch=one_record_per_batch)
    return create_app(setup)[0]


def test_the_audit_producer_batches_whatever_the_broker_check_says() -> None:
    # It writes only the audit trail, whose readers do not trust ListOffsets.
    assert make_app(True).conf.producer_max_batch_size > 1
    assert make_app(False).conf.producer_max_batch_size > 1


def test_worker_consumer_uses_the_configured_fetch_wait() -> None:
    app = make_app(True, VIGIL_KAFKA_FETCH_MAX_WAIT_MS="77")

    async def build() -> aiokafka.AIOKafkaConsumer:
        thread = app.consumer._new_consumer_thread()
        return thread._create_worker_consumer(app.transport)

    consumer = asyncio.run(build())
    # Faust itself would have set 1500 ms, which Tansu turns into up to ~0.75 s of delay.
    assert consumer._fetch_max_wait_ms == 77


def test_app_ids_and_topics_follow_the_prefix() -> None:
    app = make_app(True, VIGIL_KAFKA_TOPIC_PREFIX="blue.")
    assert app.conf.id == "blue.vigil"
    consumed = {t for agent in app.agents.values() for t in agent.channel.topics}
    # The watchlist is audited off Faust's consumer, in a group of its own.
    assert consumed == {"blue.vigil.sensing", "blue.vigil.plates", "blue.vigil.checkins"}
    assert watchlist_audit_group(load_settings(env={"VIGIL_KAFKA_TOPIC_PREFIX": "blue."})) \
        == "blue.vigil-watchlist-audit"


def test_input_buffers_are_bounded_by_the_worker_settings() -> None:
    app = make_app(True, VIGIL_WORKER_STREAM_BUFFER_MESSAGES="300",
                   VIGIL_WORKER_FETCH_PARTITION_BYTES="65536")

    async def build() -> tuple[aiokafka.AIOKafkaConsumer, set[int]]:
        thread = app.consumer._new_consumer_thread()
        sizes = {agent.channel.queue.maxsize for agent in app.agents.values()}
        return thread._create_worker_consumer(app.transport), sizes

    consumer, queue_sizes = asyncio.run(build())
    # These two bound what a worker holds while a backlog waits in the broker.
    assert queue_sizes == {300}
    assert consumer._max_partition_fetch_bytes == 65536


def test_the_watchlist_is_read_before_the_consumer_joins_its_group() -> None:
    # A worker that joined first held the partitions a rebalance gave it while it read a
    # large watchlist; the web server must be up before, to answer /healthz meanwhile.
    app = make_app(True)
    order = [type(s).__name__ for s in app.boot_strategy.server()]
    reader = order.index("WatchlistReader")
    assert order.index("Web") < reader < order.index(type(app.consumer).__name__)


def test_the_locations_are_read_beside_the_watchlist_before_the_group_is_joined() -> None:
    # The reader starts first and returns at once; its gate waits after the watchlist's
    # reader, so both topics are read at the same time and both before the join.
    app = make_app(True)
    order = [type(s).__name__ for s in app.boot_strategy.server()]
    consumer = order.index(type(app.consumer).__name__)
    assert (order.index("Web") < order.index("LocationReader") < order.index("WatchlistReader")
            < order.index("LocationsLoaded") < consumer)


def test_the_context_is_complete_when_built() -> None:
    settings = load_settings(env={"VIGIL_KAFKA_BOOTSTRAP": "127.0.0.1:1"})
    setup = WorkerSetup(settings=settings, bootstrap="127.0.0.1:1", topics=topic_names(settings),
                        metrics=build_metrics(), one_record_per_batch=True)
    _, ctx = create_app(setup)
    assert all(getattr(ctx, f.name) is not None for f in dataclasses.fields(ctx))
    assert ctx.deliver is deliver


def test_a_configured_crash_point_replaces_the_delivery() -> None:
    settings = load_settings(env={"VIGIL_KAFKA_BOOTSTRAP": "127.0.0.1:1",
                                  "VIGIL_WORKER_CRASH_AT": "after_send"})
    setup = WorkerSetup(settings=settings, bootstrap="127.0.0.1:1", topics=topic_names(settings),
                        metrics=build_metrics(), one_record_per_batch=True)
    assert create_app(setup)[1].deliver is not deliver


def test_table_recovery_starts_at_once_because_the_worker_has_no_faust_table() -> None:
    # TablelessManager drops Faust's second of waiting for late tables: right only while
    # the app declares none (its state lives in tables/, read by Vigil's own readers).
    app = make_app(True)
    assert type(app.tables).__name__ == "TablelessManager" and len(app.tables) == 0
    calls = []

    async def called(name: str, *args: object) -> None:
        calls.append(name)

    app.tables.sleep = lambda *a: called("sleep", *a)  # type: ignore[method-assign]
    app.tables.recovery.start = lambda: called("recovery")  # type: ignore[method-assign]
    app.tables._update_channels = lambda: called("channels")  # type: ignore[method-assign]
    asyncio.run(app.tables.on_start())
    assert calls == ["channels", "recovery"]
