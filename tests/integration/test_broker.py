"""The broker check, and the embedded broker's lifecycle through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.context import WorkerSetup
from cli.worker import prepare_worker
from config.settings import load_settings
from streams.broker import EmbeddedBroker, pid_alive
from streams.brokercheck import check_high_watermark
from streams.topics import ensure_topics, topic_names

pytestmark = pytest.mark.integration


def test_check_reports_the_defect_and_switches_the_workaround_on(
        bootstrap: str, embedded: bool, tmp_path: Path) -> None:
    settings = load_settings(env={"VIGIL_KAFKA_BOOTSTRAP": bootstrap,
                                  "VIGIL_KAFKA_TOPIC_PREFIX": f"chk{os.getpid()}.",
                                  "VIGIL_BROKER_RUN_DIR": str(tmp_path)})
    ensure_topics(bootstrap, settings)
    # Twice: the second run sees a topic that already holds data, and must agree.
    verdicts = {check_high_watermark(bootstrap, topic_names(settings).broker_check).counts_batches
                for _ in range(2)}
    assert len(verdicts) == 1
    (defect,) = verdicts
    if embedded:
        assert defect, "Tansu's end offset counts batches; the check must find that"
    else:  # VIGIL_BOOTSTRAP: Apache Kafka, whose producers must not be held to one record
        assert not defect, "Apache Kafka's end offset counts records; the check must say so"

    # The workaround follows the check (Apache Kafka: no defect, normal batching).
    ctx: WorkerSetup = prepare_worker(settings)
    assert ctx.one_record_per_batch is defect
    assert ctx.metrics.producer_one_record_per_batch._value.get() == float(defect)
    assert ctx.metrics.broker_hwm_counts_batches._value.get() == float(defect)


def _vigil(run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VIGIL_BROKER_RUN_DIR": str(run_dir)}
    env.pop("VIGIL_BOOTSTRAP", None)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_starts_checks_and_stops_its_own_broker(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    try:
        started = _vigil(run_dir, "broker", "start")
        assert started.returncode == 0, started.stderr
        info = json.loads((run_dir / "broker.json").read_text())
        assert pid_alive(info["pid"])
        assert (run_dir / "broker.log").exists()
        status = _vigil(run_dir, "broker", "status")
        assert status.returncode == 0 and f"pid {info['pid']}" in status.stdout
        check = _vigil(run_dir, "broker", "check")
        assert "high watermark counts batches, not records" in check.stdout
        assert "one record per produce batch is ON" in check.stdout
        again = _vigil(run_dir, "broker", "start")  # idempotent: the same broker
        assert f"pid {info['pid']}" in again.stdout
        stopped = _vigil(run_dir, "broker", "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert not pid_alive(info["pid"])
        assert _vigil(run_dir, "broker", "status").returncode == 3
    finally:
        EmbeddedBroker(run_dir).stop()
