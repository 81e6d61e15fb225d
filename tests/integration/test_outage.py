"""Broker outage: the embedded broker frozen mid-run (SIGSTOP, then SIGCONT)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.faults.outage import outage_run, summary
from loadtest.harness.deployment import Deployment
from loadtest.traffic.sightings import mac_entry, mac_sighting
from streams.broker import BrokerInfo, EmbeddedBroker
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

FREEZE_S = 12


@pytest.fixture
def own_broker(embedded: bool, tmp_path: Path) -> Iterator[tuple[EmbeddedBroker, BrokerInfo]]:
    """An embedded broker of this test's own, to freeze or restart; stopped at the end."""
    if not embedded:
        pytest.skip("freezes or restarts the embedded broker's process; not possible on an "
                    "external cluster")
    broker = EmbeddedBroker(tmp_path / "broker")
    try:
        yield broker, broker.start()
    finally:
        broker.stop()


def test_worker_rides_out_a_frozen_broker_without_losing_a_hit(
        own_broker: tuple[EmbeddedBroker, BrokerInfo], tmp_path: Path) -> None:
    _, info = own_broker
    d: Deployment | None = None
    try:
        d = Deployment(info.bootstrap, tmp_path / "deployment", worker_lag_interval_s="0.5")
        report = outage_run(d, info.pid, freezes=1, freeze_s=FREEZE_S)
        print(summary(report))
        assert report.sightings > FREEZE_S * 4
        assert report.missing == 0, f"{report.missing} sightings without a hit"
        assert report.same_worker, d.log_tail()
        # The outage shows as lag (what piled up while the broker was stopped), which drains
        # back to its level before the outage once the worker has caught up.
        assert report.max_lag > report.calm_lag, \
            "the outage never showed in vigil_consumer_lag_messages"
        assert report.drained_after_s[0] is not None, "lag did not drain"
    finally:
        if d is not None:
            d.close()


def test_a_broker_back_empty_clears_the_watchlist_until_it_is_loaded_again(
        own_broker: tuple[EmbeddedBroker, BrokerInfo], tmp_path: Path) -> None:
    broker, info = own_broker
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
        if second is not None:
            second.stop()


def metric(d: Deployment, name: str) -> float:
    """Value of an unlabelled metric on the worker's /metrics (0 when absent)."""
    found = re.search(rf"^{name} (\S+)$", d.http_text("/metrics"), re.M)
    return float(found.group(1)) if found else 0.0
