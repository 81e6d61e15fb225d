"""Broker outage: the embedded broker frozen mid-run (SIGSTOP, then SIGCONT)."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from loadtest.deployment import Deployment
from loadtest.sightings import SightingStream, mac_entry, mac_sighting
from streams.broker import EmbeddedBroker
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

FREEZE_S = 12
LAG = re.compile(r"^vigil_consumer_lag_messages\{[^}]*\} (\S+)$", re.M)


def lag_sum(d: Deployment) -> float | None:
    """Total consumer lag the worker exports, or None when /metrics does not answer."""
    try:
        return sum(float(v) for v in LAG.findall(d.http_text("/metrics")))
    except OSError:
        return None


def test_worker_rides_out_a_frozen_broker_without_losing_a_hit(
        embedded: bool, tmp_path: Path) -> None:
    if not embedded:
        pytest.skip("freezes the embedded broker's process; not possible on an external cluster")
    broker = EmbeddedBroker(tmp_path / "broker")
    info = broker.start()
    d: Deployment | None = None
    done = threading.Event()  # stops the lag sampler
    stream: SightingStream | None = None
    try:
        d = Deployment(info.bootstrap, tmp_path / "deployment", worker_lag_interval_s="0.5")
        d.send("watchlist", mac_entry("W-O"), key="W-O")
        d.start_worker()
        worker_pid = d.worker.pid
        lags: list[float] = []

        def sample_lag() -> None:
            while not done.is_set():
                lag = lag_sum(d)
                if lag is not None:
                    lags.append(lag)
                time.sleep(0.25)

        # Sightings before, during and after the freeze.
        stream = SightingStream(d, "S-O", every_s=0.2)
        sampler = threading.Thread(target=sample_lag, daemon=True)
        stream.start()
        sampler.start()
        time.sleep(3)
        os.kill(info.pid, signal.SIGSTOP)
        try:
            time.sleep(FREEZE_S)
        finally:
            os.kill(info.pid, signal.SIGCONT)
        time.sleep(3)
        acked = stream.acked()
        assert len(acked) == len(stream) > FREEZE_S * 4

        deadline = time.monotonic() + 90
        hit_sensors: set[str] = set()
        while time.monotonic() < deadline and not acked <= hit_sensors:
            values = d.read_until("hits", lambda vs: False, timeout_s=1)
            hit_sensors = {v["location_id"] for v in values if v["entry_id"] == "W-O"}
        assert acked <= hit_sensors, f"{len(acked - hit_sensors)} sightings without a hit"
        assert d.worker.poll() is None and d.worker.pid == worker_pid, d.log_tail()
        # The outage shows as lag (what piled up while the broker was stopped), which drains
        # back to zero once the worker has caught up.
        deadline = time.monotonic() + 30
        while not lags or lags[-1] != 0:
            assert time.monotonic() < deadline, f"lag did not drain: {lags[-5:]}"
            time.sleep(0.5)
        done.set()
        sampler.join(10)
        assert max(lags) > 0, "the outage never showed in vigil_consumer_lag_messages"
    finally:
        if stream is not None:
            stream.stop()
        done.set()
        os.kill(info.pid, signal.SIGCONT)
        if d is not None:
            d.close()
        broker.stop()


def test_a_broker_back_empty_clears_the_watchlist_until_it_is_loaded_again(
        embedded: bool, tmp_path: Path) -> None:
    if not embedded:
        pytest.skip("restarts the embedded broker; not possible on an external cluster")
    broker = EmbeddedBroker(tmp_path / "broker")
    info = broker.start()
    second: EmbeddedBroker | None = None
    d: Deployment | None = None
    try:
        d = Deployment(info.bootstrap, tmp_path / "deployment")
        d.send("watchlist", mac_entry("W-OLD"), key="W-OLD")
        d.start_worker()
        worker_pid = d.worker.pid
        d.send("sensing", mac_sighting("S-BEFORE"), key="S-BEFORE")
        d.read_until("hits", lambda vs: any(v["location_id"] == "S-BEFORE" for v in vs), 30)
        broker.stop()
        second = EmbeddedBroker(tmp_path / "broker-2")
        second.start(port=info.port)  # same address, no data: a restart of an in-memory broker
        ensure_topics(info.bootstrap, d.settings)
        d.renew_producer()
        deadline = time.monotonic() + 60
        while metric(d, "vigil_watchlist_log_lost_total") < 1:
            assert time.monotonic() < deadline, d.log_tail()
            time.sleep(0.5)
        assert "broker lost its data" in d.log_tail(200)
        # Reloaded with a new entry only: the old one must not match any more.
        d.send("watchlist", mac_entry("W-NEW"), key="W-NEW")
        d.send("sensing", mac_sighting("S-AFTER"), key="S-AFTER")
        hits = d.read_until("hits", lambda vs: any(v["location_id"] == "S-AFTER" for v in vs),
                            60)
        assert [v["entry_id"] for v in hits if v["location_id"] == "S-AFTER"] == ["W-NEW"]
        assert d.worker.poll() is None and d.worker.pid == worker_pid, d.log_tail()
    finally:
        if d is not None:
            d.close()
        for b in (broker, second):
            if b is not None:
                b.stop()


def metric(d: Deployment, name: str) -> float:
    """Value of an unlabelled metric on the worker's /metrics (0 when absent)."""
    found = re.search(rf"^{name} (\S+)$", d.http_text("/metrics"), re.M)
    return float(found.group(1)) if found else 0.0
