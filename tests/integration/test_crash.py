"""Crash safety: SIGKILL the worker repeatedly under steady traffic; no hit lost, none extra."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from loadtest.deployment import Deployment
from loadtest.sightings import SightingStream, mac_entry

pytestmark = pytest.mark.integration

KILLS = 3
SEND_S = 24


def test_every_hit_survives_sigkills_and_duplicates_share_their_hit_id(
        deployment_factory: Callable[..., Deployment]) -> None:
    d = deployment_factory()
    d.send("watchlist", mac_entry("W-C"), key="W-C")
    d.start_worker()
    # Kills land mid-stream: before, while and after batches produce their hits.
    stream = SightingStream(d, "S-C", every_s=0.05)
    stream.start()
    try:
        started = time.monotonic()
        for k in range(KILLS):
            time.sleep(max(0.0, started + (k + 1) * SEND_S / (KILLS + 1) - time.monotonic()))
            d.kill_worker()
            d.start_worker()
        time.sleep(max(0.0, started + SEND_S - time.monotonic()))
    finally:
        stream.stop()
    acked = stream.acked(timeout_s=30)
    assert len(acked) == len(stream) > SEND_S * 10

    def complete(values: list[dict]) -> bool:
        return acked <= {v["location_id"] for v in values}

    hits = [h for h in d.read_until("hits", complete, timeout_s=120) if h["entry_id"] == "W-C"]
    missing = acked - {h["location_id"] for h in hits}
    assert not missing, f"{len(missing)} of {len(acked)} sightings lost their hit"
    # At least once: a record replayed after a kill may hit again, but with the same hit_id,
    # so one distinct hit_id per sighting remains once subscribers de-duplicate.
    ids_per_sensor: dict[str, set[str]] = {}
    for h in hits:
        ids_per_sensor.setdefault(h["location_id"], set()).add(h["hit_id"])
    assert set(ids_per_sensor) == acked
    assert all(len(ids) == 1 for ids in ids_per_sensor.values())
    print(f"{len(acked)} sightings, {len(hits)} hits read, "
          f"{len(hits) - len(acked)} duplicates (same hit_id)")
