"""The Faust app of a worker: settings in, agents and tasks wired (web pages: web/)."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

import faust
from faust.app import BootStrategy
from faust.tables import TableManager
from mode import ServiceT

from agents.audit import build_audit_trail, register_audit_checkpoints
from agents.consumer_lag import register_consumer_lag
from agents.context import WorkerContext, WorkerSetup
from agents.faults import delivery
from agents.locations import register_locations
from agents.records import register_record_agents
from agents.suppression import register_suppression
from agents.watchlist import register_watchlist
from agents.watchlist_audit import WatchlistAudit
from agents.watchlist_audit_process import WatchlistAuditProcess
from config.sections import WorkerSettings
from config.settings import SettingsError
from streams import transport
from streams.output_producers import OutputProducers
from streams.security import faust_credentials
from streams.topics import app_id
from tables.locations import LocationDirectory
from tables.suppression import Suppression
from tables.watchlist import Watchlist

# Faust's default producer batch size.
FAUST_DEFAULT_MAX_BATCH_SIZE = 16384


def web_ssl_context(w: WorkerSettings) -> ssl.SSLContext | None:
    """Return the TLS context of the worker's HTTPS server, or None for plain HTTP (no
    worker.tls_cert_file). A file that cannot be read raises SettingsError naming it."""
    if not w.tls_cert_file:
        if w.tls_key_file:
            raise SettingsError("worker.tls_key_file is set without worker.tls_cert_file")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        # An empty key file: the key is in the certificate's PEM file.
        context.load_cert_chain(w.tls_cert_file, w.tls_key_file or None)
    except OSError as exc:  # ssl.SSLError is an OSError
        raise SettingsError(f"worker.tls_cert_file {w.tls_cert_file!r} / worker.tls_key_file "
                            f"{w.tls_key_file!r}: {exc}") from None
    return context


def faust_settings(ctx: WorkerSetup) -> dict:
    """Return the Faust app settings for this worker."""
    s = ctx.settings
    # TLS and SASL for Faust's consumer, producer and topic creation (streams/security.py).
    credentials = faust_credentials(s)
    web_tls = web_ssl_context(s.worker)
    return {
        "broker": f"{transport.configure(s.kafka.fetch_max_wait_ms)}://{ctx.bootstrap}",
        "store": "memory://",
        "datadir": str(Path(s.broker.run_dir) / "faust" / app_id(s)),
        # Faust's producer writes only the audit trail, and its readers take the end from
        # fetch responses (streams/readto.py), so it batches on every broker (BROKER.md
        # defect 1 is in ListOffsets). A bulk watchlist load is audited through a producer
        # of its own (agents/watchlist_audit.py, streams/batch_writer.py).
        "producer_max_batch_size": FAUST_DEFAULT_MAX_BATCH_SIZE,
        "producer_acks": -1,
        "broker_session_timeout": s.kafka.session_timeout_s,
        "broker_heartbeat_interval": s.kafka.heartbeat_interval_s,
        "consumer_auto_offset_reset": "earliest",
        "stream_wait_empty": True,
        # The worker's input buffers, so its memory does not grow with a backlog.
        "stream_buffer_maxsize": s.worker.stream_buffer_messages,
        "consumer_max_fetch_size": s.worker.fetch_partition_bytes,
        "topic_allow_declare": True,
        "web_enabled": True,
        "web_bind": s.worker.web_host,
        "web_port": s.worker.web_port,
        "web_host": s.worker.web_host,
        # Faust's own defaults (PLAINTEXT, plain HTTP) unless configured.
        **({"broker_credentials": credentials} if credentials is not None else {}),
        **({"web_ssl_context": web_tls} if web_tls is not None else {}),
    }


def _before_consumer(*services: ServiceT) -> type[BootStrategy]:
    """Return Faust's boot strategy with `services` started, in order, just before the
    consumer: the web server is up by then, the consumer group is joined only once each has
    started."""

    class StartBeforeConsumer(BootStrategy):
        def kafka_consumer(self) -> list[ServiceT]:
            return [*services, *super().kafka_consumer()]

    return StartBeforeConsumer


class TablelessManager(TableManager):
    """Faust's table manager without the second it sleeps at start.

    Faust (0.15) waits 1 s before starting table recovery, so that tables declared late
    are registered first. Vigil declares no Faust table (its state lives in tables/, read
    by its own readers), so that second only delays every worker's group join and so its
    readiness (a restarted worker: 6.1-6.4 s to ready, measured in watchlist-bench)."""

    async def on_start(self) -> None:
        """Start table recovery at once (it has nothing to recover)."""
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


def create_app(setup: WorkerSetup) -> tuple[faust.App, WorkerContext]:
    """Build the worker's Faust app (output topics, agents, the watchlist reader) and the
    context its agents share; web pages are registered on it by the caller (web/)."""
    s = setup.settings
    conf = faust_settings(setup)
    Path(conf["datadir"]).mkdir(parents=True, exist_ok=True)
    app = faust.App(app_id(s), TableManager=TablelessManager, **conf)
    # Dead letters need more than one request in flight (streams/output_producers.py). Hits
    # are written in batches on every broker: their readers take the end from fetch
    # responses (streams/readto.py), and each stored batch costs the embedded broker on
    # every later fetch of the partition (agents/suppression.py, FOLLOW_EVERY_S).
    dead_letters = app.service(OutputProducers(setup.bootstrap, setup.one_record_per_batch,
                                               settings=s))
    hits = app.service(OutputProducers(setup.bootstrap, one_record_per_batch=False, settings=s))
    hits_topic = hits.topic(setup.topics.hits, one_writer_per_partition=True)
    audit_topic = app.topic(setup.topics.audit, key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw")
    locations = LocationDirectory()
    ctx = WorkerContext(
        **{f.name: getattr(setup, f.name) for f in dataclasses.fields(WorkerSetup)},
        hits_topic=hits_topic,
        deadletter_topic=dead_letters.topic(setup.topics.deadletter,
                                            one_writer_per_partition=False),
        audit=build_audit_trail(audit_topic, s, setup.metrics),
        deliver=delivery(s.worker.crash_at, hits_topic),
        watchlist=Watchlist(s.watchlist.hash_secret.encode("utf-8") or None,
                            locations=locations),
        locations=locations,
        suppression=Suppression(s.alerts.suppress_seconds * 1000),
    )
    # The watchlist and locations audits have consumer groups of their own, off Faust's
    # consumer. The locations are read while the watchlist is, and the group is joined once
    # both are read.
    audit = app.service(WatchlistAuditProcess(ctx) if s.watchlist.audit_process
                        else WatchlistAudit(ctx))
    location_reader, locations_loaded = register_locations(app, ctx)
    app.boot_strategy = _before_consumer(
        register_suppression(app, ctx), location_reader,
        register_watchlist(app, ctx, audit.owned), locations_loaded)(app)
    register_record_agents(app, ctx)

    @app.on_partitions_assigned.connect
    async def note_group_joined(_app: faust.App, assigned: set, **_kwargs: object) -> None:
        ctx.group_joined.set()

    register_consumer_lag(app, ctx)
    register_audit_checkpoints(app, ctx.audit, s.audit.checkpoint_every_s)
    return app, ctx
