"""`vigil demo`: everything in one command, hits printed live, Ctrl-C stops what it started."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from cli.demo_traffic import SightingSource, demo_watchlist
from config.settings import Settings
from schemas.clock import now_ms
from schemas.json import dumps, loads
from schemas.sensing import SENSING_CONTENT_TYPE, encode_sensing_batch
from streams.broker import EmbeddedBroker, free_port, port_open, resolve_bootstrap, terminate_pid
from streams.brokercheck import aiokafka_producer_kwargs
from streams.clients import needs_one_record_per_batch
from streams.reader import open_reader
from streams.security import aiokafka_security
from streams.topics import ensure_topics, topic_names

# The port the shipped scrape config (config/prometheus/prometheus.yml) points at.
DEFAULT_WEB_PORT = 6066
COLOURS = {1: "\033[1;31m", 2: "\033[1;33m", 3: "\033[36m"}
RESET = "\033[0m"


def _say(text: str) -> None:
    print(text, flush=True)


def start_worker(settings: Settings, log_path: Path) -> subprocess.Popen:
    """Start `vigil worker` as a child process with `settings`; logs go to `log_path`."""
    env = {**os.environ, **settings.as_env()}
    with log_path.open("ab") as log:
        # Own session: Ctrl-C reaches only the demo, which then stops the worker by pid.
        return subprocess.Popen([sys.executable, "-m", "cli.main", "worker"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def wait_ready(settings: Settings, proc: subprocess.Popen, timeout_s: float) -> float:
    """Wait until the worker's /readyz answers 200; return the seconds it took."""
    url = f"http://{settings.worker.web_host}:{settings.worker.web_port}/readyz"
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with code {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as resp:
            if resp.status == 200:
                return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"worker not ready after {timeout_s:.0f}s")


def metrics_hints(host: str, port: int) -> list[str]:
    """Return where to see a worker's metrics and how to point Prometheus and Grafana at it."""
    config = Path(__file__).resolve().parent.parent / "config"
    with contextlib.suppress(ValueError):  # shorter when run from the checkout, as ./dev does
        config = config.relative_to(Path.cwd())
    scrape = config / "prometheus" / "prometheus.yml"
    target = f"{host}:{port}"
    note = "" if port == DEFAULT_WEB_PORT else f" (edit its target to {target})"
    return [
        f"Prometheus: prometheus --config.file={scrape} scrapes {host}:{DEFAULT_WEB_PORT}{note},"
        f" alert rules in {config / 'prometheus' / 'vigil-alerts.yml'}",
        f"Grafana: import {config / 'grafana' / 'vigil-dashboard.json'} and choose that "
        "Prometheus as its data source",
    ]


def format_hit(hit: dict, colour: bool) -> str:
    """Return one console line for a hit."""
    detected_ms = hit["detected_ts"] - hit["observed_ts"]
    shown_ms = time.time() * 1000 - hit["observed_ts"]
    observed = " ".join(str(v) for v in hit["observed"].values())
    line = (f"HIT P{hit['priority']} {hit['list']:<16} {hit['entry_id']:<12} {observed:<20} "
            f"at {hit['location_id']:<9} {hit['match']:<6} matched +{detected_ms:.0f} ms, "
            f"shown +{shown_ms:.0f} ms after observation")
    return f"{COLOURS.get(hit['priority'], '')}{line}{RESET}" if colour else line


async def _stream(settings: Settings, bootstrap: str, rate: float, duration: float) -> None:
    topics = topic_names(settings)
    one = needs_one_record_per_batch(settings, bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                **aiokafka_producer_kwargs(one), **aiokafka_security(settings))
    hits, hit_partitions = await open_reader(
        bootstrap, [topics.hits], client_id="vigil-demo-hits", auto_offset_reset="latest",
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms, settings=settings)
    await producer.start()
    for tp in hit_partitions:  # fix "latest" now, so no hit from here on is skipped
        await hits.position(tp)
    rng = random.Random(7)
    now = now_ms()
    commands = demo_watchlist(rng, now)
    for c in commands:
        await producer.send_and_wait(topics.watchlist, key=c["entry_id"].encode(), value=dumps(c))
    _say(f"demo: loaded {len(commands)} watchlist entries on {topics.watchlist}")
    source = SightingSource(rng, [(c["id_type"], c["key"]) for c in commands])
    colour = sys.stdout.isatty()
    counts = {"sent": 0, "hits": 0}

    async def print_hits() -> None:
        async for msg in hits:
            counts["hits"] += 1
            _say(format_hit(loads(msg.value), colour))

    async def send_traffic() -> None:
        tick, started, last_status = 0.1, time.monotonic(), time.monotonic()
        headers = [("content-type", SENSING_CONTENT_TYPE.encode())]
        while not duration or time.monotonic() - started < duration:
            sent_ms = now_ms()
            # About one watched device a second, in binary batches ...
            batch = source.batch(max(1, int(rate * tick)), sent_ms,
                                 watched_hits=int(rng.random() < tick))
            await producer.send(topics.sensing, value=encode_sensing_batch(batch),
                                headers=headers)
            counts["sent"] += len(batch)
            # ... and now and then one as a single JSON record (the other input format).
            if rng.random() < tick / 5:
                rec = source.batch(1, sent_ms, watched_hits=1)[0]
                rec["sensor_id"] = f"S-{rec['sensor_id']:06d}"
                await producer.send(topics.sensing, key=rec["sensor_id"].encode(),
                                    value=dumps(rec))
                counts["sent"] += 1
            if time.monotonic() - last_status > 10:
                last_status = time.monotonic()
                _say(f"demo: {counts['sent']} sightings sent, {counts['hits']} hits")
            await asyncio.sleep(tick)

    printer = asyncio.create_task(print_hits())
    try:
        await send_traffic()
        await asyncio.sleep(2)  # let the last hits arrive
    finally:
        printer.cancel()
        await producer.stop()
        await hits.stop()


def demo_prefix(prefix: str) -> str:
    """Return a topic prefix of this demo run's own under the configured `prefix`."""
    return f"{prefix}demo-{uuid.uuid4().hex[:8]}."


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Run the demo until Ctrl-C (or `--duration`); stop everything it started."""
    run_dir = Path(settings.broker.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker.from_settings(settings)
    started_broker = False
    worker: subprocess.Popen | None = None
    # Ctrl-C as an exception in the main thread, wherever it lands.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if not settings.kafka.bootstrap:
            started_broker = broker.info() is None
            b = settings.broker
            info = broker.start(b.host, b.port, b.start_timeout_s)
            _say(f"demo: embedded broker (Tansu) pid {info.pid} on {info.bootstrap}")
        bootstrap = resolve_bootstrap(settings)
        # Topics and consumer group of its own, so the demo never joins a deployment already
        # on this broker (it would take partitions from that one's workers), nor inherits
        # that deployment's hits and suppression.
        prefix = demo_prefix(settings.kafka.topic_prefix)
        settings = dataclasses.replace(settings, kafka=dataclasses.replace(
            settings.kafka, bootstrap=bootstrap, topic_prefix=prefix))
        _say(f"demo: topics and consumer group under the prefix {prefix!r} (its own)")
        if port_open(settings.worker.web_host, settings.worker.web_port):
            port = free_port(settings.worker.web_host)
            _say(f"demo: port {settings.worker.web_port} is taken; the worker uses {port}")
            settings = dataclasses.replace(
                settings, worker=dataclasses.replace(settings.worker, web_port=port))
        ensure_topics(bootstrap, settings)
        log_path = run_dir / "worker.log"
        worker = start_worker(settings, log_path)
        _say(f"demo: worker pid {worker.pid} starting (log: {log_path})")
        took = wait_ready(settings, worker, 120)
        base = f"http://{settings.worker.web_host}:{settings.worker.web_port}"
        _say(f"demo: worker ready in {took:.1f}s; metrics: {base}/metrics, "
             f"readiness: {base}/readyz")
        for line in metrics_hints(settings.worker.web_host, settings.worker.web_port):
            _say(f"demo: {line}")
        _say("demo: streaming synthetic sightings; hits follow. Ctrl-C stops everything.")
        asyncio.run(_stream(settings, bootstrap, args.rate, args.duration))
        return 0
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        _say(f"demo: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip clean-up
        if worker is not None:
            terminate_pid(worker.pid, 15)
            _say(f"demo: worker {worker.pid} stopped")
        if started_broker and broker.stop():
            _say("demo: embedded broker stopped")
        signal.signal(signal.SIGINT, signal.default_int_handler)
