"""Start one worker: check the broker, create topics, build the app, run it."""

from __future__ import annotations

import gc
import logging
import threading
import time

import faust

from agents.app import create_app
from agents.context import WorkerSetup
from agents.gcpauses import observe_gc_pauses
from agents.metrics import build_metrics
from config.settings import Settings
from streams.broker import resolve_bootstrap
from streams.brokercheck import check_high_watermark, one_record_per_batch
from streams.security import describe
from streams.topics import ensure_topics, topic_names
from tables.watchlist import warm_up
from web.routes import register_web

log = logging.getLogger("vigil.worker")


def prepare_worker(settings: Settings) -> WorkerSetup:
    """Resolve the broker, create missing topics and run the broker check; return what the
    app is built from. The matching kernels warm up meanwhile, in a thread."""
    kernels_ready = warm_up_meanwhile()
    bootstrap = resolve_bootstrap(settings)
    log.info("kafka: %s over %s", bootstrap, describe(settings))
    topics = topic_names(settings)
    ensure_topics(bootstrap, settings)
    check = check_high_watermark(bootstrap, topics.broker_check, settings)
    one_per_batch = one_record_per_batch(settings.kafka.one_record_per_batch, check)
    log.warning(check.summary(one_per_batch))
    metrics = build_metrics()
    metrics.broker_hwm_counts_batches.set(int(check.counts_batches))
    metrics.producer_one_record_per_batch.set(int(one_per_batch))
    metrics.list_precision_threshold.set(settings.alerts.min_list_precision)
    observe_gc_pauses(metrics.gc_pause)
    return WorkerSetup(settings=settings, bootstrap=bootstrap, topics=topics, metrics=metrics,
                       one_record_per_batch=one_per_batch, kernels_ready=kernels_ready)


def warm_up_meanwhile() -> threading.Event:
    """Compile the matching kernels (or load them from numba's cache) in a thread; return
    the event set once they are ready.

    Why a thread: the warm-up (0.2 s on the 2-core VM) then overlaps the worker's start, most
    of it the wait for its group join, instead of delaying that join. numba compiles under a
    lock of its own, so a batch that needs a kernel first waits for it, and a worker is
    ready only once this is done (web/health.py)."""
    ready = threading.Event()

    def run() -> None:
        started = time.monotonic()
        try:
            warm_up()
            log.info("matching kernels ready in %.1fs", time.monotonic() - started)
        except Exception:  # compiled on first use instead: slower then, never wrong
            log.exception("matching kernels not warmed up: each compiles on its first use")
        ready.set()

    threading.Thread(target=run, name="kernel-warm-up", daemon=True).start()
    return ready


def run_worker(settings: Settings) -> None:
    """Run a worker in this process until it is stopped (SIGTERM or Ctrl-C)."""
    logging.basicConfig(level=settings.worker.log_level.upper(),
                        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    # kafka-python logs every connection at INFO; only its problems matter here.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    app, ctx = create_app(prepare_worker(settings))
    register_web(app, ctx)
    # The imports' and the app's objects (some 170,000) live as long as the process: out of
    # the collector's reach, a full collection walks only what came after, not all of them
    # (as the watchlist audit child does).
    gc.freeze()
    worker = faust.Worker(app, loglevel=settings.worker.log_level.upper())
    worker.execute_from_commandline()
