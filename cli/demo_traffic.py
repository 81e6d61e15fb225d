"""Synthetic traffic for `vigil demo`: a small watchlist and device sightings that hit it."""

from __future__ import annotations

import random
from dataclasses import dataclass

DEMO_LISTS = (("wanted-persons", 1), ("missing-persons", 2), ("stolen-devices", 3))
HEX = "0123456789abcdef"
DIGITS = "0123456789"
ETAG = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def random_device_id(rng: random.Random, id_type: str) -> str:
    """Return a random normalised identifier of `id_type`."""
    if id_type == "mac":
        return "".join(rng.choice(HEX) for _ in range(12))
    if id_type in ("imsi", "imei"):
        return "".join(rng.choice(DIGITS) for _ in range(15))
    return "".join(rng.choice(ETAG) for _ in range(rng.randint(8, 16)))


def demo_watchlist(rng: random.Random, now_ms: int, per_type: int = 3) -> list[dict]:
    """Return upsert commands for `per_type` watched devices of each id type."""
    commands = []
    n = 0
    for id_type in ("mac", "imsi", "imei", "etag"):
        for _ in range(per_type):
            n += 1
            name, priority = DEMO_LISTS[n % len(DEMO_LISTS)]
            commands.append({
                "op": "upsert", "entry_id": f"W-DEMO-{n:04d}", "list": name,
                "subject_type": "device", "id_type": id_type,
                "key": random_device_id(rng, id_type), "priority": priority,
                "legal_basis": f"demo: synthetic case {n}", "requested_by": "demo-desk",
                "expires_at": now_ms + 7 * 86_400_000,
            })
    return commands


@dataclass
class SightingSource:
    """Background devices seen everywhere, and now and then one from the watchlist."""

    rng: random.Random
    watched: list[tuple[str, str]]
    sensors: int = 500
    population: int = 50_000

    def __post_init__(self) -> None:
        self._devices = [
            (t, random_device_id(self.rng, t))
            for t in self.rng.choices(("mac", "imsi", "imei", "etag"), k=self.population)
        ]

    def batch(self, n: int, now_ms: int, watched_hits: int = 0) -> list[dict]:
        """Return `n` sightings observed just before `now_ms`, `watched_hits` of them watched."""
        out = []
        for i in range(n):
            pool = self.watched if i < watched_hits else self._devices
            id_type, device_id = self.rng.choice(pool)
            out.append({"ts": now_ms - self.rng.randint(0, 50), "sensor_id": self.rng.randint(
                1, self.sensors), "id_type": id_type, "device_id": device_id,
                "rssi": self.rng.randint(-95, -40)})
        self.rng.shuffle(out)
        return out
