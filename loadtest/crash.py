"""Crash safety under steady traffic: kill the worker again and again, then check the hits.

`vigil loadtest crash [--kills 24] [--json PATH]` is the long form; the short form runs in CI
(tests/integration/test_crash.py). Sightings of one watched device stream in, each at its own
sensor, so each must become exactly one hit (loadtest/sightings.py). The worker dies in
turn at each crash point of agents/faults.py (before, during and after sending a batch's
hits, each time in the first batch with a hit it reaches) and by a SIGKILL from outside at
a moment nobody chose, and is restarted each time. At the end every acknowledged sighting
must have its hit, and a sighting's hits, if it has more than one (at least once), must all
carry the same hit_id, so that a subscriber de-duplicating by hit_id sees exactly one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agents.faults import POINTS
from config.settings import Settings
from loadtest.deployment import Deployment, broker_for
from loadtest.sightings import SightingStream, mac_entry
from schemas.json import dumps

SIGNAL = "signal"  # a SIGKILL from outside, at whatever point the worker is
KINDS = (*POINTS, SIGNAL)
ENTRY_ID = "W-CRASH"


@dataclass
class CrashReport:
    """What a crash run did and found."""

    kills: Counter[str] = field(default_factory=Counter)
    sightings: int = 0
    hits_read: int = 0
    missing: int = 0
    # Hits read beyond one per sighting, all with their sighting's hit_id: what
    # at-least-once delivery allows and de-duplication by hit_id removes.
    duplicates: int = 0
    # Sightings whose hits carry more than one hit_id: de-duplication cannot fix those.
    conflicting_ids: int = 0
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Every sighting hit, and de-duplication by hit_id leaves one hit per sighting."""
        return self.sightings > 0 and self.missing == 0 and self.conflicting_ids == 0


def crash_run(d: Deployment, kills: int, every_s: float = 0.05, burst: int = 3,
              signal_after_s: float = 3.0, hits_timeout_s: float = 120) -> CrashReport:
    """Run `kills` crashes (cycling through KINDS) on deployment `d` under steady traffic;
    return what was found. A crash point is armed on a fresh worker, which runs until it
    kills itself there; a signal kill hits a worker `signal_after_s` after it is ready."""
    report = CrashReport()
    started = time.monotonic()
    d.send("watchlist", mac_entry(ENTRY_ID), key=ENTRY_ID)
    stream = SightingStream(d, "S-CRASH", every_s=every_s, burst=burst)
    stream.start()
    try:
        for k in range(kills):
            kind = KINDS[k % len(KINDS)]
            if kind == SIGNAL:
                d.start_worker()
                time.sleep(signal_after_s)
                d.kill_worker()
            else:
                d.run_until_crash(kind)
            report.kills[kind] += 1
        d.start_worker()  # unarmed: it catches up with what its predecessors left
        time.sleep(2.0)
    finally:
        stream.stop()
    acked = stream.acked(timeout_s=30)
    report.sightings = len(acked)

    def complete(values: list[dict]) -> bool:
        return acked <= {v["location_id"] for v in values}

    hits = [h for h in d.read_until("hits", complete, timeout_s=hits_timeout_s)
            if h["entry_id"] == ENTRY_ID]
    ids_per_sensor: dict[str, set[str]] = {}
    for h in hits:
        ids_per_sensor.setdefault(h["location_id"], set()).add(h["hit_id"])
    report.hits_read = len(hits)
    report.missing = len(acked - set(ids_per_sensor))
    report.duplicates = len(hits) - len(ids_per_sensor)
    report.conflicting_ids = sum(len(ids) > 1 for ids in ids_per_sensor.values())
    report.seconds = time.monotonic() - started
    return report


def summary(report: CrashReport) -> str:
    """One paragraph for the terminal."""
    kills = ", ".join(f"{kind} {report.kills[kind]}" for kind in KINDS if report.kills[kind])
    return (f"{sum(report.kills.values())} crashes survived ({kills}) in {report.seconds:.0f} s; "
            f"{report.sightings} sightings, {report.sightings - report.missing} hit, "
            f"{report.missing} missing; {report.hits_read} hits read, {report.duplicates} "
            f"duplicates (same hit_id), {report.conflicting_ids} sightings with differing "
            f"hit_ids: {'PASSED' if report.passed else 'FAILED'}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of `vigil loadtest crash` to `p`."""
    p.add_argument("--kills", type=int, default=24,
                   help=f"crashes in all, cycling through {', '.join(KINDS)} (default 24)")
    p.add_argument("--json", type=Path, help="write the report here")


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run `vigil loadtest crash` on a fresh embedded broker (or VIGIL_BOOTSTRAP's cluster);
    exit 1 when a hit was lost or de-duplication by hit_id would not leave one per sighting."""
    with broker_for(settings) as bootstrap:
        d = Deployment(bootstrap, Path(tempfile.mkdtemp(prefix="vigil-crash-")))
        try:
            report = crash_run(d, args.kills)
        finally:
            d.close()
    print(summary(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(dumps({**asdict(report), "kills": dict(report.kills),
                                     "passed": report.passed}) + b"\n")
    return 0 if report.passed else 1
