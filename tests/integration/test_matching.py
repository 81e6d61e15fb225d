"""The matching engine through the broker: suppression, expiry, deletes, across a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from loadtest.harness.deployment import Deployment
from tests.integration.test_end_to_end import add_entry, hits_for, now_ms, sighting, upsert

# Short enough for a test, long against the test's own timings.
SUPPRESS_S = 120


@pytest.fixture(scope="module")
def deployment(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(bootstrap, tmp_path_factory.mktemp("matching"),
                   alerts_suppress_seconds=str(SUPPRESS_S), watchlist_expiry_check_s="0.2")
    try:
        d.start_worker()
        yield d
    finally:
        d.close()


def hits_with(d: Deployment, entry_id: str) -> list[dict]:
    """Every hit on the topic once `entry_id`'s hit is there and a moment has passed (hits
    of one batch may sit on different partitions)."""
    hits_for(d, entry_id)
    time.sleep(1.0)
    return d.read_until("hits", lambda vs: any(v["entry_id"] == entry_id for v in vs))


def settle(d: Deployment, entry_id: str, count: int) -> list[dict]:
    """Wait for `count` hits of the entry, then a little longer, and return all of them (so
    an extra hit would be seen)."""
    hits_for(d, entry_id, count, timeout_s=20)
    time.sleep(1.5)
    return hits_for(d, entry_id, count, timeout_s=5)


def test_ten_sightings_at_one_sensor_give_one_hit_at_two_sensors_two(
        deployment: Deployment) -> None:
    add_entry(deployment, upsert("W-SUP", key="0a0a0a0a0a01"))
    t0 = now_ms()
    deployment.send("sensing", [sighting("0a0a0a0a0a01", t0 + i, "S-1") for i in range(10)],
                    key="S-1")
    hits = settle(deployment, "W-SUP", 1)
    assert [(h["location_id"], h["observed_ts"]) for h in hits] == [("S-1", t0)]
    for i in range(10):  # one message each, two sensors interleaved
        sensor = f"S-{2 + i % 2}"
        deployment.send("sensing", sighting("0a0a0a0a0a01", t0 + 100 + i, sensor), key=sensor)
    hits = settle(deployment, "W-SUP", 3)
    assert sorted(h["location_id"] for h in hits) == ["S-1", "S-2", "S-3"]


def test_deleted_entry_gives_no_hit(deployment: Deployment) -> None:
    add_entry(deployment, upsert("W-DEL", key="0a0a0a0a0a02"))
    before = deployment.watchlist_entries()
    deployment.send("watchlist", {"op": "delete", "entry_id": "W-DEL", "requested_by": "unit-17",
                                  "reason": "found"}, key="W-DEL")
    deadline = time.monotonic() + 10
    while deployment.watchlist_entries() != before - 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    add_entry(deployment, upsert("W-CTL", key="0a0a0a0a0a03"))
    ts = now_ms()
    deployment.send("sensing", [sighting("0a0a0a0a0a02", ts, "S-DEL"),
                                sighting("0a0a0a0a0a03", ts, "S-DEL")], key="S-DEL")
    assert not [h for h in hits_with(deployment, "W-CTL") if h["entry_id"] == "W-DEL"]


def test_expired_entry_gives_no_hit_leaves_the_index_and_is_audited_once(
        deployment: Deployment) -> None:
    expires = now_ms() + 3000
    add_entry(deployment, upsert("W-EXP", key="0a0a0a0a0a04", expires_at=expires))
    add_entry(deployment, upsert("W-LIVE", key="0a0a0a0a0a05"))
    entries = deployment.watchlist_entries()
    time.sleep(max(0.0, (expires - now_ms()) / 1000) + 0.1)
    ts = now_ms()
    deployment.send("sensing", [sighting("0a0a0a0a0a04", ts, "S-EXP"),
                                sighting("0a0a0a0a0a05", ts, "S-EXP")], key="S-EXP")
    assert not [h for h in hits_with(deployment, "W-LIVE") if h["entry_id"] == "W-EXP"]
    audits = deployment.read_until(
        "audit", lambda vs: any(v.get("type") == "watchlist_expiry" for v in vs), 10)
    expiries = [a for a in audits if a.get("type") == "watchlist_expiry"]
    assert [(a["entry_id"], a["expires_at"]) for a in expiries] == [("W-EXP", expires)]
    assert deployment.watchlist_entries() == entries - 1
