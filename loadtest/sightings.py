"""Steady sightings of one watched device for the fault tests (broker outage, hostile input).

Each sighting is at its own sensor, so each is exactly one hit (never suppressed), and is
keyed by that sensor, so they spread over the partitions.
"""

from __future__ import annotations

import threading
import time

from loadtest.deployment import Deployment
from schemas.json import dumps

WATCHED_MAC = "a45e60d1229f"
DAY_MS = 86_400_000


def mac_entry(entry_id: str, key: str = WATCHED_MAC) -> dict:
    """A valid upsert of a MAC entry on `wanted-persons`, expiring in a day."""
    return {"op": "upsert", "entry_id": entry_id, "list": "wanted-persons",
            "subject_type": "device", "id_type": "mac", "key": key, "priority": 1,
            "legal_basis": "case 1", "requested_by": "unit-1",
            "expires_at": time.time_ns() // 1_000_000 + DAY_MS}


def mac_sighting(sensor: str, device_id: str = WATCHED_MAC) -> dict:
    """A sighting of `device_id` at `sensor`, observed now."""
    return {"sensor_id": sensor, "ts": time.time_ns() // 1_000_000, "id_type": "mac",
            "device_id": device_id}


class SightingStream:
    """A thread sending a sighting of WATCHED_MAC every `every_s`, at sensors prefix-0, -1, ...
    The producer buffers what the broker cannot take yet (a frozen broker, say)."""

    def __init__(self, d: Deployment, prefix: str, every_s: float) -> None:
        self._d, self._prefix, self._every_s = d, prefix, every_s
        self._sent: list[tuple[str, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            sensor = f"{self._prefix}-{i}"
            fut = self._d.producer.send(self._d.topics.sensing, value=dumps(mac_sighting(sensor)),
                                        key=sensor.encode())
            self._sent.append((sensor, fut))
            i += 1
            time.sleep(self._every_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop sending (safe to call twice, and before `start`)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def acked(self, timeout_s: float = 60) -> set[str]:
        """Stop, flush, and return the sensors of the sightings the broker acknowledged;
        raise if any send failed."""
        self.stop()
        self._d.producer.flush(timeout_s)
        return {sensor for sensor, fut in self._sent if fut.get(timeout=timeout_s)}

    def __len__(self) -> int:
        return len(self._sent)
