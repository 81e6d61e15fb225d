"""Steady sightings of one watched device for the fault tests (broker outage, hostile input).

Each sighting is at its own sensor, so each is exactly one hit (never suppressed), and is
keyed by that sensor, so they spread over the partitions.
"""

from __future__ import annotations

from loadtest.harness.deployment import Deployment
from loadtest.harness.periodic import Periodic
from schemas.clock import now_ms
from schemas.json import dumps

WATCHED_MAC = "a45e60d1229f"
DAY_MS = 86_400_000


def mac_entry(entry_id: str, key: str = WATCHED_MAC) -> dict:
    """A valid upsert of a MAC entry on `wanted-persons`, expiring in a day."""
    return {"op": "upsert", "entry_id": entry_id, "list": "wanted-persons",
            "subject_type": "device", "id_type": "mac", "key": key, "priority": 1,
            "legal_basis": "case 1", "requested_by": "unit-1",
            "expires_at": now_ms() + DAY_MS}


def mac_sighting(sensor: str, device_id: str = WATCHED_MAC) -> dict:
    """A sighting of `device_id` at `sensor`, observed now."""
    return {"sensor_id": sensor, "ts": now_ms(), "id_type": "mac",
            "device_id": device_id}


class SightingStream(Periodic):
    """A thread sending a sighting of WATCHED_MAC every `every_s`, at sensors prefix-0, -1, ...
    The producer buffers what the broker cannot take yet (a frozen broker, say)."""

    def __init__(self, d: Deployment, prefix: str, every_s: float) -> None:
        super().__init__(every_s)
        self._d, self._prefix = d, prefix
        self._sent: list[tuple[str, object]] = []

    def tick(self) -> None:
        """Send the next sighting."""
        sensor = f"{self._prefix}-{len(self._sent)}"
        fut = self._d.producer.send(self._d.topics.sensing, value=dumps(mac_sighting(sensor)),
                                    key=sensor.encode())
        self._sent.append((sensor, fut))

    def acked(self, timeout_s: float = 60) -> set[str]:
        """Stop, flush, and return the sensors of the sightings the broker acknowledged;
        raise if any send failed."""
        self.stop()
        self._d.producer.flush(timeout_s)
        return {sensor for sensor, fut in self._sent if fut.get(timeout=timeout_s)}

    def __len__(self) -> int:
        return len(self._sent)
