"""A worker killed with SIGKILL comes back with its watchlist, rebuilt from the topic, and
with its suppression state, rebuilt from the hits topic."""

from __future__ import annotations

import pytest

from loadtest.harness.deployment import Deployment
from tests.integration.test_end_to_end import hits_for, now_ms, sighting, upsert

pytestmark = pytest.mark.integration


def hit_at_s1_then_sigkill(d: Deployment, entry_id: str, device: str) -> int:
    """Start the worker, sight `device` at sensor S-1 and wait for its one hit of
    `entry_id`; then SIGKILL the worker and start it again. Return the sighting's ts."""
    d.start_worker()
    ts = now_ms()
    d.send("sensing", sighting(device, ts, sensor="S-1"), key="S-1")
    assert [h["observed_ts"] for h in hits_for(d, entry_id)] == [ts]
    d.kill_worker()
    d.start_worker()
    return ts


def test_watchlist_survives_sigkill(deployment_factory) -> None:
    d = deployment_factory()
    d.send("watchlist", upsert("W-KEEP", key="0a0b0c0d0e0f"), key="W-KEEP")
    d.send("watchlist", upsert("W-GONE", key="1a1b1c1d1e1f"), key="W-GONE")
    d.send("watchlist", {"op": "delete", "entry_id": "W-GONE", "requested_by": "unit-17",
                         "reason": "found"}, key="W-GONE")
    hit_at_s1_then_sigkill(d, "W-KEEP", "0a0b0c0d0e0f")

    # Same message key, so one partition, in order: the deleted entry first, the kept one
    # last. At another sensor than before: W-KEEP at S-1 is suppressed for a while.
    ts2 = now_ms() + 1
    d.send("sensing", sighting("1a1b1c1d1e1f", ts2, sensor="S-2"), key="S-1")
    d.send("sensing", sighting("0a0b0c0d0e0f", ts2 + 1, sensor="S-2"), key="S-1")
    hits = d.read_until("hits", lambda vs: any(v["observed_ts"] == ts2 + 1 for v in vs), 30)
    assert any(h["entry_id"] == "W-KEEP" and h["observed_ts"] == ts2 + 1 for h in hits)
    assert not [h for h in hits if h["entry_id"] == "W-GONE"]


def test_suppression_survives_sigkill(deployment_factory) -> None:
    d = deployment_factory()
    d.send("watchlist", upsert("W-SUP", key="2a2b2c2d2e2f"), key="W-SUP")
    ts = hit_at_s1_then_sigkill(d, "W-SUP", "2a2b2c2d2e2f")

    # Within the window at the same sensor: no new hit, and no second hit either from the
    # first sighting if the new worker reads it again. Then, on the same partition, a
    # sighting at another sensor, whose hit says the one before it was processed.
    ts2 = now_ms()
    assert ts2 - ts < d.settings.alerts.suppress_seconds * 1000
    d.send("sensing", sighting("2a2b2c2d2e2f", ts2, sensor="S-1"), key="S-1")
    d.send("sensing", sighting("2a2b2c2d2e2f", ts2 + 1, sensor="S-2"), key="S-1")
    hits = d.read_until("hits", lambda vs: any(v["location_id"] == "S-2" for v in vs), 30)
    assert sorted((h["location_id"], h["observed_ts"]) for h in hits) == [
        ("S-1", ts), ("S-2", ts2 + 1)]
