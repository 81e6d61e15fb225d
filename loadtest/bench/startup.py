"""Measure how fast a worker is ready, recovers from SIGKILL, and turns a sighting into a hit.

`vigil loadtest startup [--runs 3] [--sightings 20] [--json PATH]` runs against the
embedded broker (started and stopped here) or the cluster in VIGIL_BOOTSTRAP. Each run is
a fresh deployment (own topic prefix); figures are wall-clock seconds on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from config.settings import Settings
from loadtest.harness.deployment import Deployment, broker_for
from schemas.clock import now_ms
from schemas.json import dumps

DAY_MS = 86_400_000
DEVICE = "0a1b2c3d4e5f"


def _first_hit_s(d: Deployment, started: float) -> float:
    """Send one watched sighting; return seconds from `started` until its hit is read."""
    ts = now_ms()
    # A sensor of its own each time: a repeat at one sensor would be suppressed.
    sensor = f"S-FIRST-{ts}"
    d.send("sensing", {"sensor_id": sensor, "ts": ts, "id_type": "mac", "device_id": DEVICE},
           key=sensor)
    d.read_until("hits", lambda vs: any(v["observed_ts"] == ts for v in vs), 120)
    return time.monotonic() - started


def _latencies_ms(d: Deployment, count: int) -> list[float]:
    """Observation-to-hit-read latency of `count` sightings sent 0.2 s apart."""
    sent = {}
    for i in range(count):
        ts = now_ms()
        sent[ts] = i
        d.send("sensing", {"sensor_id": f"S-{i}", "ts": ts, "id_type": "mac",
                           "device_id": DEVICE}, key=f"S-{i}")
        time.sleep(0.2)
    got: dict[int, float] = {}

    def done(values: list) -> bool:
        for v in values:
            got.setdefault(v["observed_ts"], v["detected_ts"] - v["observed_ts"])
        return all(ts in got for ts in sent)

    d.read_until("hits", done, 30)
    return [got[ts] for ts in sent if ts in got]


def measure(settings: Settings, runs: int, sightings: int) -> dict:
    """Return the startup, restart and latency figures of `runs` fresh deployments."""
    rows = []
    with broker_for(settings) as bootstrap:
        for _ in range(runs):
            d = Deployment(bootstrap, Path(tempfile.mkdtemp(prefix="vigil-deploy-")))
            try:
                entry = {"op": "upsert", "entry_id": "W-1", "list": "bench",
                         "subject_type": "device", "id_type": "mac", "key": DEVICE,
                         "priority": 1, "legal_basis": "startup measurement",
                         "requested_by": "loadtest", "expires_at": now_ms() + DAY_MS}
                d.send("watchlist", dumps(entry), key="W-1")
                t0 = time.monotonic()
                ready = d.start_worker()
                first = _first_hit_s(d, t0)
                latencies = _latencies_ms(d, sightings)
                d.kill_worker()
                t1 = time.monotonic()
                ready_after_kill = d.start_worker()
                first_after_kill = _first_hit_s(d, t1)
            finally:
                d.close()
            rows.append({"ready_s": ready, "first_hit_s": first,
                         "ready_after_sigkill_s": ready_after_kill,
                         "first_hit_after_sigkill_s": first_after_kill,
                         "hit_latency_ms": latencies})
    all_lat = sorted(x for r in rows for x in r["hit_latency_ms"])
    return {"runs": rows, "embedded_broker": not settings.kafka.bootstrap,
            "hit_latency_ms_p50": statistics.median(all_lat) if all_lat else None,
            "hit_latency_ms_max": all_lat[-1] if all_lat else None}


def run(settings: Settings, args: argparse.Namespace) -> int:
    """CLI entry: measure, print a summary line per run, write JSON if asked."""
    result = measure(settings, args.runs, args.sightings)
    for i, r in enumerate(result["runs"]):
        print(f"run {i}: ready {r['ready_s']:.1f}s, first hit {r['first_hit_s']:.1f}s; "
              f"after SIGKILL ready {r['ready_after_sigkill_s']:.1f}s, "
              f"first hit {r['first_hit_after_sigkill_s']:.1f}s")
    print(f"observation -> hit (worker's detected_ts): p50 {result['hit_latency_ms_p50']:.0f} ms, "
          f"max {result['hit_latency_ms_max']:.0f} ms over "
          f"{sum(len(r['hit_latency_ms']) for r in result['runs'])} sightings")
    if args.json:
        Path(args.json).write_bytes(dumps(result))
    return 0
