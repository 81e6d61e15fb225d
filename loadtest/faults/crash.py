"""Crash safety under steady traffic: kill the worker again and again, then check the hits.

`vigil loadtest crash [--kills 24] [--json PATH]` is the long form; the short form runs in CI
(tests/integration/test_crash.py). The load generator's traffic (binary sensing batches,
plate reads and check-ins, with planted hits, repeats and malformed records) flows the whole
time. The worker dies in turn at each crash point of agents/faults.py (before, during and
after sending a batch's hits, each time in the first batch with a hit it reaches) and by a
SIGKILL from outside at a moment nobody chose, and is restarted each time. At the end the
hits read back are compared with the generator's ground truth (suppression applied): none
may be missing or unexpected; a hit read more than once (at least once) must carry the same
hit_id each time, so a subscriber de-duplicating by hit_id sees exactly the expected hits.
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
from loadtest.faults.checked import CheckedTraffic
from loadtest.harness.deployment import Deployment, broker_for, sigterm_unwinds
from loadtest.traffic.groundtruth import HitCheck
from schemas.json import dumps

SIGNAL = "signal"  # a SIGKILL from outside, at whatever point the worker is
KINDS = (*POINTS, SIGNAL)


@dataclass
class CrashReport:
    """What a crash run did and found."""

    kills: Counter[str] = field(default_factory=Counter)
    records_sent: int = 0
    hits: HitCheck = field(default_factory=HitCheck)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Hits were expected, every one arrived and nothing else did (after
        de-duplication by hit_id)."""
        return self.hits.expected_hits > 0 and self.hits.ok


def crash_run(d: Deployment, kills: int, seconds_per_kill: float = 15.0,
              signal_after_s: float = 3.0, hits_timeout_s: float = 120) -> CrashReport:
    """Run `kills` crashes (cycling through KINDS) on deployment `d` while the generator's
    traffic flows for `kills` x `seconds_per_kill` seconds; return what was found. A crash
    point is armed on a fresh worker, which runs until it kills itself there; a signal kill
    hits a worker `signal_after_s` after it is ready."""
    report = CrashReport()
    started = time.monotonic()
    traffic = CheckedTraffic(d, kills * seconds_per_kill)
    traffic.load_watchlist()
    traffic.start()
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
    report.hits = traffic.check(hits_timeout_s)
    report.records_sent = traffic.records_sent
    report.seconds = time.monotonic() - started
    return report


def summary(report: CrashReport) -> str:
    """One paragraph for the terminal."""
    kills = ", ".join(f"{kind} {report.kills[kind]}" for kind in KINDS if report.kills[kind])
    return (f"{sum(report.kills.values())} crashes survived ({kills}) in {report.seconds:.0f} s; "
            f"{report.records_sent:,} records sent; {report.hits.line()}: "
            f"{'PASSED' if report.passed else 'FAILED'}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of `vigil loadtest crash` to `p`."""
    p.add_argument("--kills", type=int, default=24,
                   help=f"crashes in all, cycling through {', '.join(KINDS)} (default 24)")
    p.add_argument("--json", type=Path, help="write the report here")


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run `vigil loadtest crash` on a fresh embedded broker (or VIGIL_BOOTSTRAP's cluster);
    exit 1 when a hit was missed or unexpected."""
    with sigterm_unwinds(), broker_for(settings) as bootstrap:
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
