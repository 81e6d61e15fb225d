"""Run the naive baseline (`loadtest.bench.baseline`) on the bench's own sightings and time it.

The sightings go one JSON record per message to topics of the baseline's own (prefix
`<deployment prefix>baseline.`). Its rate is events / (last event - first event), so
start-up does not count against it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from config.settings import Settings
from schemas.json import dumps, loads
from streams.broker import terminate_pid
from streams.brokercheck import aiokafka_producer_kwargs
from streams.security import aiokafka_security
from streams.topics import ensure_topics, topic_names

RESULT_TIMEOUT_S = 180


async def _send_one_per_message(bootstrap: str, topic: str, records: list[dict],
                                one_per_batch: bool, settings: Settings) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                client_id="vigil-loadtest-baseline",
                                **aiokafka_producer_kwargs(one_per_batch),
                                **aiokafka_security(settings))
    await producer.start()
    try:
        futures = [await producer.send(topic, dumps(r)) for r in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class BaselineRun:
    """The baseline's sightings, sent to its topic ahead of time; `time()` then starts the
    baseline worker on that backlog, with the machine to itself, and times it."""

    def __init__(self, settings: Settings, bootstrap: str, watched: list[tuple[str, str, str]],
                 records: list[dict], one_per_batch: bool, run_dir: Path) -> None:
        prefix = f"{settings.kafka.topic_prefix}baseline."
        own = dataclasses.replace(settings, kafka=dataclasses.replace(settings.kafka,
                                                                      topic_prefix=prefix))
        ensure_topics(bootstrap, own)
        topics = topic_names(own)
        self.log_path = run_dir / "baseline.log"
        keys, self.result = run_dir / "baseline-keys.json", run_dir / "baseline-result.json"
        keys.write_bytes(dumps(watched))
        self.result.unlink(missing_ok=True)
        asyncio.run(_send_one_per_message(bootstrap, topics.sensing, records, one_per_batch,
                                          own))
        # The baseline's Faust app connects as the deployment does (TLS, SASL: VIGIL_KAFKA_*).
        self.env = {**os.environ, **own.as_env()}
        self.args = [
            sys.executable, "-m", "loadtest.bench.baseline", "--bootstrap", bootstrap,
            "--app-id", f"{prefix}naive", "--topic", topics.sensing, "--hits-topic", topics.hits,
            "--keys", str(keys), "--expect", str(len(records)), "--result", str(self.result),
            "--session-timeout-s", str(settings.kafka.session_timeout_s),
            "--fetch-max-wait-ms", str(settings.kafka.fetch_max_wait_ms),
            *(["--one-record-per-batch"] if one_per_batch else [])]
        self.proc: subprocess.Popen | None = None

    def time(self) -> dict:
        """Start the baseline, wait until it has handled every sighting, and return its
        figures with `records_per_s`."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + RESULT_TIMEOUT_S
        while not self.result.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"baseline exited {self.proc.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"baseline gave no result in {RESULT_TIMEOUT_S}s")
            time.sleep(0.2)
        figures = loads(self.result.read_bytes())
        seconds = (figures["last_ms"] - figures["first_ms"]) / 1000
        figures["records_per_s"] = (figures["events"] - 1) / seconds if seconds > 0 else 0.0
        return figures

    def stop(self) -> None:
        """Stop the baseline worker by its pid, if it was started."""
        if self.proc is not None:
            terminate_pid(self.proc.pid, 15)
