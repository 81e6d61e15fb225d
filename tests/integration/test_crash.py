"""Crash safety: SIGKILL the worker repeatedly under steady traffic; no hit lost, none extra."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from loadtest.deployment import Deployment
from schemas.json import dumps

pytestmark = pytest.mark.integration

KILLS = 3
SEND_S = 24


def test_every_hit_survives_sigkills_and_duplicates_share_their_hit_id(
        deployment_factory: Callable[..., Deployment]) -> None:
    d = deployment_factory()
    now = time.time_ns() // 1_000_000
    d.send("watchlist", {"op": "upsert", "entry_id": "W-C", "list": "wanted-persons",
                         "subject_type": "device", "id_type": "mac", "key": "a45e60d1229f",
                         "priority": 1, "legal_basis": "case 1", "requested_by": "unit-1",
                         "expires_at": now + 86_400_000}, key="W-C")
    d.start_worker()
    # Sightings every 50 ms, each at its own sensor (so each is one hit, never suppressed),
    # keyed by sensor so they spread over the partitions; the worker is killed mid-stream,
    # so kills land before, while and after batches produce their hits.
    sent: list[tuple[str, object]] = []
    stop = threading.Event()

    def send_sightings() -> None:
        i = 0
        while not stop.is_set():
            sensor = f"S-C-{i}"
            value = {"sensor_id": sensor, "ts": time.time_ns() // 1_000_000, "id_type": "mac",
                     "device_id": "a45e60d1229f"}
            sent.append((sensor, d.producer.send(d.topics.sensing, value=dumps(value),
                                                 key=sensor.encode())))
            i += 1
            time.sleep(0.05)

    sender = threading.Thread(target=send_sightings, daemon=True)
    sender.start()
    try:
        started = time.monotonic()
        for k in range(KILLS):
            time.sleep(max(0.0, started + (k + 1) * SEND_S / (KILLS + 1) - time.monotonic()))
            d.kill_worker()
            d.start_worker()
        time.sleep(max(0.0, started + SEND_S - time.monotonic()))
    finally:
        stop.set()
        sender.join(10)
    d.producer.flush(30)
    acked = {sensor for sensor, fut in sent if fut.get(timeout=30)}
    assert len(acked) == len(sent) > SEND_S * 10

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
