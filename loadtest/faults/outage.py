"""Broker outages under steady traffic: freeze the embedded broker, thaw it, check the hits.

`vigil loadtest outage [--freezes 3] [--freeze-s 30] [--json PATH]` is the long form; the
short form runs in CI (tests/integration/test_outage.py). The broker process is stopped
with SIGSTOP and resumed with SIGCONT (the embedded broker keeps its data only in memory,
so a frozen broker stands for one that stops answering, without losing what it holds).
Sightings keep coming, each at its own sensor, so each must become one hit. The worker must
ride every outage out as the same process, lose nothing, and show the outage as consumer
lag that drains afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from config.settings import Settings
from loadtest.harness.deployment import Deployment, sigterm_unwinds
from loadtest.harness.periodic import Periodic
from loadtest.traffic.sightings import SightingStream, mac_entry
from schemas.json import dumps
from streams.broker import EmbeddedBroker

ENTRY_ID = "W-OUTAGE"
LAG = re.compile(r"^vigil_consumer_lag_messages\{[^}]*\} (\S+)$", re.M)


def lag_sum(d: Deployment) -> float | None:
    """Total consumer lag the worker exports, or None when /metrics does not answer."""
    try:
        return sum(float(v) for v in LAG.findall(d.http_text("/metrics")))
    except OSError:
        return None


@dataclass
class OutageReport:
    """What an outage run did and found."""

    freezes: int = 0
    freeze_s: float = 0.0
    sightings: int = 0
    missing: int = 0
    same_worker: bool = False
    # Lag in the calm before the first freeze (traffic flows, offsets are committed every
    # few seconds, so it is rarely zero), and the peak over the run.
    calm_lag: float = 0.0
    max_lag: float = 0.0
    # Seconds from each thaw until the exported lag was back at the calm level (None: never).
    drained_after_s: list[float | None] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Nothing lost, no restart, every outage visible as lag that drained."""
        return (self.sightings > 0 and self.missing == 0 and self.same_worker
                and self.max_lag > self.calm_lag and None not in self.drained_after_s)


class _LagSampler(Periodic):
    """Samples the worker's exported lag in a thread: (monotonic time, lag)."""

    def __init__(self, d: Deployment, every_s: float = 0.25) -> None:
        super().__init__(every_s)
        self.samples: list[tuple[float, float]] = []
        self._d = d

    def tick(self) -> None:
        """Take one sample (none when /metrics does not answer)."""
        lag = lag_sum(self._d)
        if lag is not None:
            self.samples.append((time.monotonic(), lag))

    def peak(self, since: float = 0.0) -> float:
        """The largest lag sampled after `since` (0 when none)."""
        return max((lag for t, lag in list(self.samples) if t > since), default=0.0)

    def drained_after(self, since: float, level: float, timeout_s: float) -> float | None:
        """Wait until the lag sampled after `since` has risen above `level` and come back to
        it (the gauge still shows its last value from before an outage for a moment after);
        return how long after `since` it was back."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            risen = False
            for t, lag in list(self.samples):
                if t <= since:
                    continue
                if lag > level:
                    risen = True
                elif risen:
                    return t - since
            time.sleep(self._every_s)
        return None


def outage_run(d: Deployment, broker_pid: int, freezes: int, freeze_s: float,
               every_s: float = 0.2, calm_s: float = 3.0, drain_timeout_s: float = 60,
               hits_timeout_s: float = 90) -> OutageReport:
    """Freeze the broker `freezes` times for `freeze_s` each under steady traffic, with a
    worker of deployment `d` running (its lag interval should be short); return the report."""
    report = OutageReport(freeze_s=freeze_s)
    started = time.monotonic()
    d.send("watchlist", mac_entry(ENTRY_ID), key=ENTRY_ID)
    d.start_worker()
    assert d.worker is not None
    worker_pid = d.worker.pid
    stream = SightingStream(d, "S-OUTAGE", every_s=every_s)
    sampler = _LagSampler(d)
    stream.start()
    sampler.start()
    try:
        time.sleep(calm_s)
        report.calm_lag = sampler.peak()
        for k in range(freezes):
            if k:
                time.sleep(calm_s)
            os.kill(broker_pid, signal.SIGSTOP)
            try:
                time.sleep(freeze_s)
            finally:
                os.kill(broker_pid, signal.SIGCONT)
            report.freezes += 1
            thawed = time.monotonic()
            report.drained_after_s.append(
                sampler.drained_after(thawed, report.calm_lag, drain_timeout_s))
        time.sleep(calm_s)
        acked = stream.acked()
        report.sightings = len(acked)
        deadline = time.monotonic() + hits_timeout_s
        hit_sensors: set[str] = set()
        while time.monotonic() < deadline and not acked <= hit_sensors:
            values = d.read_until("hits", lambda vs: False, timeout_s=1)
            hit_sensors = {v["location_id"] for v in values if v["entry_id"] == ENTRY_ID}
        report.missing = len(acked - hit_sensors)
        report.same_worker = d.worker is not None and d.worker.poll() is None \
            and d.worker.pid == worker_pid
        report.max_lag = sampler.peak()
    finally:
        stream.stop()
        sampler.stop()
        with contextlib.suppress(ProcessLookupError):
            os.kill(broker_pid, signal.SIGCONT)
    report.seconds = time.monotonic() - started
    return report


def summary(report: OutageReport) -> str:
    """One paragraph for the terminal."""
    drains = ", ".join("never" if s is None else f"{s:.1f} s" for s in report.drained_after_s)
    return (f"{report.freezes} broker freezes of {report.freeze_s:.0f} s in "
            f"{report.seconds:.0f} s; {report.sightings} sightings, {report.missing} without a "
            f"hit; worker {'the same process throughout' if report.same_worker else 'RESTARTED'}"
            f"; lag {report.calm_lag:.0f} messages before, peaked at {report.max_lag:.0f}, back "
            f"to {report.calm_lag:.0f} {drains} after each thaw: "
            f"{'PASSED' if report.passed else 'FAILED'}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of `vigil loadtest outage` to `p`."""
    p.add_argument("--freezes", type=int, default=3, help="broker freezes (default 3)")
    p.add_argument("--freeze-s", type=float, default=30, help="seconds each (default 30)")
    p.add_argument("--json", type=Path, help="write the report here")


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run `vigil loadtest outage` on a fresh embedded broker; exit 1 when it failed."""
    if settings.kafka.bootstrap:
        print("vigil loadtest outage freezes the embedded broker's process: "
              "not possible on an external cluster (unset VIGIL_BOOTSTRAP)")
        return 2
    run_dir = Path(tempfile.mkdtemp(prefix="vigil-outage-"))
    broker = EmbeddedBroker(run_dir / "broker")
    d: Deployment | None = None
    with sigterm_unwinds():
        try:
            info = broker.start()
            d = Deployment(info.bootstrap, run_dir / "deployment", worker_lag_interval_s="0.5")
            report = outage_run(d, info.pid, args.freezes, args.freeze_s)
        finally:
            if d is not None:
                d.close()
            broker.stop()
    print(summary(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(dumps({**asdict(report), "passed": report.passed}) + b"\n")
    return 0 if report.passed else 1
