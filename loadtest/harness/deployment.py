"""A Vigil deployment on a broker: its own topic prefix, web port, run folder and worker.

Used by the integration tests and the load tests, so that both start, feed and read a
worker the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from config.settings import Settings, load_settings
from schemas.json import dumps, loads
from streams.broker import EmbeddedBroker, free_port, terminate_pid
from streams.brokercheck import kafka_python_producer_kwargs
from streams.clients import needs_one_record_per_batch
from streams.reader import open_sync_reader
from streams.security import kafka_python_security
from streams.topics import ensure_topics, topic_names

READY_TIMEOUT_S = 60


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Let SIGTERM unwind like Ctrl-C inside the block, so the `finally` clauses that stop
    workers and brokers by pid run when a run is terminated."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def broker_for(settings: Settings) -> Iterator[str]:
    """Yield the bootstrap of the cluster in `kafka.bootstrap`, or of a fresh embedded broker
    (empty, in a temporary folder) that is stopped on the way out."""
    if settings.kafka.bootstrap:
        yield settings.kafka.bootstrap
        return
    broker = EmbeddedBroker(tempfile.mkdtemp(prefix="vigil-loadtest-"))
    try:
        yield broker.start().bootstrap
    finally:
        broker.stop()


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


class Deployment:
    """Topics behind a unique prefix on the shared test broker, and a worker to start and kill."""

    def __init__(self, bootstrap: str, run_dir: Path, **overrides: str) -> None:
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "VIGIL_KAFKA_BOOTSTRAP": bootstrap,
            "VIGIL_KAFKA_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}.",
            "VIGIL_WORKER_WEB_PORT": str(free_port()),
            "VIGIL_BROKER_RUN_DIR": str(run_dir),
            "VIGIL_WORKER_BATCH_WITHIN_S": "0.02",
            **{f"VIGIL_{k.upper()}": v for k, v in overrides.items()},
        }
        self.settings: Settings = load_settings(env=env)
        self.bootstrap = bootstrap
        self.topics = topic_names(self.settings)
        ensure_topics(bootstrap, self.settings)
        self.producer = self._make_producer()
        self.worker: subprocess.Popen | None = None
        self.extra_workers: list[subprocess.Popen] = []
        self.log_path = run_dir / "worker.log"

    def _make_producer(self) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all",
            **kafka_python_producer_kwargs(
                needs_one_record_per_batch(self.settings, self.bootstrap)),
            **kafka_python_security(self.settings))

    def renew_producer(self) -> None:
        """Start over with a new producer (its idempotent-producer id died with the broker)."""
        self.producer.close()
        self.producer = self._make_producer()

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.worker.web_host}:{self.settings.worker.web_port}"

    # -- worker ---------------------------------------------------------------------------
    def _spawn(self, web_port: int, log_path: Path,
               extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        env = {**os.environ, **self.settings.as_env(), "VIGIL_WORKER_WEB_PORT": str(web_port),
               **(extra_env or {})}
        with log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "cli.main", "worker"], env=env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def _wait_ready(self, proc: subprocess.Popen, base_url: str, log_path: Path,
                    ready_timeout_s: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < ready_timeout_s:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited {proc.returncode}:\n"
                                     f"{self.log_tail(path=log_path)}")
            if _http_status(base_url + "/readyz") == 200:
                return time.monotonic() - started
            time.sleep(0.1)
        raise AssertionError(f"worker not ready in {ready_timeout_s}s:\n"
                             f"{self.log_tail(path=log_path)}")

    def start_worker(self, ready_timeout_s: float = READY_TIMEOUT_S) -> float:
        """Start the worker and wait until /readyz says ready; return the seconds it took."""
        self.worker = self._spawn(self.settings.worker.web_port, self.log_path)
        return self._wait_ready(self.worker, self.base_url, self.log_path, ready_timeout_s)

    def add_worker(self, ready_timeout_s: float = READY_TIMEOUT_S
                   ) -> tuple[subprocess.Popen, str, float]:
        """Start one more worker in the same consumer group, with its own web port and log;
        wait until it is ready; return it, its base URL and the seconds it took."""
        port = free_port(self.settings.worker.web_host)
        log_path = self.run_dir / f"worker-{len(self.extra_workers) + 2}.log"
        proc = self._spawn(port, log_path)
        self.extra_workers.append(proc)
        url = f"http://{self.settings.worker.web_host}:{port}"
        return proc, url, self._wait_ready(proc, url, log_path, ready_timeout_s)

    def run_until_crash(self, point: str, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Start the worker armed with crash point `point` (agents/faults.py) and wait until
        it has killed itself there; return the seconds it ran. Raise if it exited otherwise
        or is still running after `timeout_s`."""
        started = time.monotonic()
        proc = self._spawn(self.settings.worker.web_port, self.log_path,
                           {"VIGIL_WORKER_CRASH_AT": point})
        try:
            code = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            terminate_pid(proc.pid, 15)
            raise AssertionError(f"worker armed at {point} still running after {timeout_s}s:\n"
                                 f"{self.log_tail()}") from None
        if code != -signal.SIGKILL or f"crash point {point} reached" not in self.log_tail(60):
            raise AssertionError(f"worker armed at {point} exited {code}:\n{self.log_tail()}")
        return time.monotonic() - started

    def kill_worker(self) -> None:
        """SIGKILL the worker, as a crash would."""
        assert self.worker is not None
        os.kill(self.worker.pid, signal.SIGKILL)
        self.worker.wait(10)
        self.worker = None

    def stop_worker(self) -> None:
        """Stop the workers by their pids (SIGTERM, then SIGKILL)."""
        for proc in [self.worker, *self.extra_workers]:
            if proc is not None:
                terminate_pid(proc.pid, 15)
        self.worker = None
        self.extra_workers.clear()

    def log_tail(self, lines: int = 40, path: Path | None = None) -> str:
        with contextlib.suppress(OSError):
            text = (path or self.log_path).read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def http_status(self, path: str) -> int | None:
        return _http_status(self.base_url + path)

    def watchlist_entries(self) -> int:
        """Return how many entries the worker's index holds (from /readyz)."""
        return loads(self.http_text("/readyz"))["watchlist_entries"]

    def http_text(self, path: str) -> str:
        with urllib.request.urlopen(self.base_url + path, timeout=5) as resp:
            return resp.read().decode()

    # -- topics ---------------------------------------------------------------------------
    def send(self, short: str, value: bytes | dict | list | None, key: str | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        """Produce one message (None: a tombstone) to a topic and wait for the broker's ack."""
        data = value if value is None or isinstance(value, bytes) else dumps(value)
        fut = self.producer.send(getattr(self.topics, short), value=data,
                                 key=key.encode() if key else None, headers=headers or [])
        self.producer.flush()
        fut.get(timeout=10)

    def read_until(self, short: str, done: Callable[[list[Any]], bool],
                   timeout_s: float = 10.0) -> list[Any]:
        """Read a topic from its beginning (JSON values) until `done(values)` or the timeout."""
        consumer, tps = open_sync_reader(self.bootstrap, [getattr(self.topics, short)],
                                         client_id="vigil-loadtest-read", settings=self.settings)
        try:
            consumer.seek_to_beginning(*tps)
            values: list[Any] = []
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=200).values():
                    values.extend(loads(r.value) for r in records)
                if done(values):
                    break
            return values
        finally:
            consumer.close()

    def close(self) -> None:
        self.stop_worker()
        self.producer.close()
