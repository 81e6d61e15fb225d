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
import asyncio
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer

from agents.faults import POINTS
from config.settings import Settings
from loadtest.deployment import Deployment, broker_for, sigterm_unwinds
from loadtest.groundtruth import suppress
from loadtest.sender import StreamPlan, StreamSent, send_plan
from loadtest.traffic import TrafficGenerator, TrafficSpec
from schemas.json import dumps
from streams.brokercheck import aiokafka_producer_kwargs
from streams.clients import needs_one_record_per_batch

SIGNAL = "signal"  # a SIGKILL from outside, at whatever point the worker is
KINDS = (*POINTS, SIGNAL)
# Modest rates: the worker restarts often, and each restart replays what was not committed.
TRAFFIC = {"sensing_binary": (1_500, 100), "plates": (200, 20), "checkins": (100, 10)}
SPEC = TrafficSpec(watchlist_size=1_000, hit_rate=0.01, devices=20_000)
POOL_S = 30


@dataclass
class CrashReport:
    """What a crash run did and found."""

    kills: Counter[str] = field(default_factory=Counter)
    records_sent: int = 0
    expected_hits: int = 0
    received_hits: int = 0  # distinct hit_ids
    missed_hits: int = 0
    unexpected_hits: int = 0
    # Hits read beyond one per hit_id: what at-least-once delivery allows and
    # de-duplication by hit_id removes.
    duplicates: int = 0
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Every expected hit arrived and nothing else did (after de-duplication)."""
        return self.expected_hits > 0 and not (self.missed_hits or self.unexpected_hits)


def _load_watchlist(d: Deployment, commands: list[dict]) -> None:
    futures = [d.producer.send(d.topics.watchlist, value=dumps(c), key=c["entry_id"].encode())
               for c in commands]
    d.producer.flush()
    for fut in futures:
        fut.get(timeout=30)


async def _send_traffic(d: Deployment, plans: list[StreamPlan], duration_s: float
                        ) -> list[StreamSent]:
    one = needs_one_record_per_batch(d.settings, d.bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=d.bootstrap, acks="all",
                                client_id="vigil-loadtest-crash", **aiokafka_producer_kwargs(one))
    await producer.start()
    try:
        return list(await asyncio.gather(*(send_plan(producer, d.topics, p, duration_s)
                                           for p in plans)))
    finally:
        await producer.stop()


def crash_run(d: Deployment, kills: int, seconds_per_kill: float = 15.0,
              signal_after_s: float = 3.0, hits_timeout_s: float = 120) -> CrashReport:
    """Run `kills` crashes (cycling through KINDS) on deployment `d` while the generator's
    traffic flows for `kills` x `seconds_per_kill` seconds; return what was found. A crash
    point is armed on a fresh worker, which runs until it kills itself there; a signal kill
    hits a worker `signal_after_s` after it is ready."""
    report = CrashReport()
    started = time.monotonic()
    gen = TrafficGenerator(SPEC, time.time_ns() // 1_000_000)
    _load_watchlist(d, gen.commands)
    plans = [StreamPlan(stream, rate, list(gen.messages(stream, int(POOL_S * rate / batch),
                                                        batch, rate)))
             for stream, (rate, batch) in TRAFFIC.items()]
    sent: list[StreamSent] = []
    traffic = threading.Thread(
        target=lambda: sent.extend(asyncio.run(_send_traffic(d, plans, kills * seconds_per_kill))),
        daemon=True)
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
    traffic.join()
    if not sent:
        raise RuntimeError("the traffic sender failed (see the log above)")
    report.records_sent = sum(s.records for s in sent)
    expected = {h.hit_id for h in suppress([h for s in sent for h in s.expected],
                                           d.settings.alerts.suppress_seconds * 1000)}
    report.expected_hits = len(expected)
    hits = d.read_until("hits", lambda vs: expected <= {v["hit_id"] for v in vs},
                        timeout_s=hits_timeout_s)
    time.sleep(1.0)  # a hit that should not come has had its chance
    hits = d.read_until("hits", lambda vs: len(vs) >= len(hits), timeout_s=hits_timeout_s)
    read = {h["hit_id"] for h in hits}
    report.received_hits = len(read)
    report.missed_hits = len(expected - read)
    report.unexpected_hits = len(read - expected)
    report.duplicates = len(hits) - len(read)
    report.seconds = time.monotonic() - started
    return report


def summary(report: CrashReport) -> str:
    """One paragraph for the terminal."""
    kills = ", ".join(f"{kind} {report.kills[kind]}" for kind in KINDS if report.kills[kind])
    return (f"{sum(report.kills.values())} crashes survived ({kills}) in {report.seconds:.0f} s; "
            f"{report.records_sent:,} records sent; hits expected {report.expected_hits}, "
            f"received {report.received_hits}, missed {report.missed_hits}, unexpected "
            f"{report.unexpected_hits}, duplicated {report.duplicates} (same hit_id): "
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
