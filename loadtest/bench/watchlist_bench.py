"""`vigil loadtest watchlist-bench --entries N [--json PATH]`: a national-scale watchlist
against one real worker (issue 19), measured in one run.

Against a fresh embedded broker (or the cluster in VIGIL_BOOTSTRAP, under fresh topic
prefixes) it:

1. starts a worker on an empty watchlist and notes its RSS once ready;
2. writes N entries to the watchlist topic in large produce batches, and commits the
   workers' watchlist audit group after them, as if they had been audited when loaded;
3. starts a worker (cold start: process start to /readyz), notes its RSS and how fast its
   reader read the topic, stops it and starts it again (warm start);
4. sends steady binary sensing traffic with planted hits and, meanwhile, min(N, 10^6)
   further commands through `vigil watchlist load`, until the worker has applied and
   audited all of them; then reads the hits back against the planted ones.

Figures, goals and the summary: `loadtest.bench.watchlist_bench_figures`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from config.settings import Settings
from loadtest.bench import watchlist_bench_figures as fig
from loadtest.bench.watchlist_bench_io import (
    DAY_MS,
    SETTLE_S,
    Progress,
    RssSampler,
    Starter,
    Traffic,
    log_lines_since,
    mark_audited,
    memory,
    settled_rss,
    start_timeout_s,
    wait_audited,
    wait_for_log,
    worker_metrics,
    write_bulk_file,
    write_entries,
)
from loadtest.harness.deployment import Deployment, broker_for, sigterm_unwinds
from loadtest.harness.probes import HitReader, load_average
from loadtest.traffic.groundtruth import check_hits, suppress
from loadtest.traffic.traffic import TrafficGenerator, TrafficSpec
from schemas.clock import now_ms
from schemas.json import dumps
from streams.broker import terminate_pid
from streams.brokercheck import aiokafka_producer_kwargs
from streams.clients import needs_one_record_per_batch
from streams.security import aiokafka_security
from tables.checkpoint import checkpoint_directory

BULK_MAX = 1_000_000
GENERATOR_ENTRIES = 10_000  # of the N, those the traffic generator makes and plants hits of
RATE = 10_000.0  # sensing records/s while the bulk load runs
BATCH = 1_000  # records per binary sensing message
HIT_RATE = 0.002  # 20 planted hits/s at RATE
LEAD_S = 3.0  # traffic before the bulk load starts
TAIL_S = 3.0  # traffic after the bulk load is applied and audited
MIB = 1 << 20


@dataclass
class _Run:
    """What the phases measured, on the way to the result."""

    entries: int
    bulk: int
    starter: Starter
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def progress(self) -> Progress:
        return self.starter.progress


def _empty_worker(bootstrap: str, run_dir: Path, run: _Run) -> int:
    """Return the RSS of a worker holding no entry, once ready (its own topics)."""
    d = Deployment(bootstrap, run_dir / "empty")
    try:
        ready_s = run.starter.start(d, 0, 0)
        assert d.worker is not None
        rss = settled_rss(d.worker.pid)
        run.notes.append(f"empty worker: ready in {ready_s:.1f} s, RSS {rss / MIB:.1f} MiB")
        return rss
    finally:
        run.starter.close(d)


async def _bulk_phase(d: Deployment, gen: TrafficGenerator, bulk_file: Path, run: _Run,
                      rate: float) -> dict[str, Any]:
    """Traffic; the bulk load through `vigil watchlist load` until applied and audited;
    the hits read back. Return the raw figures."""
    one = needs_one_record_per_batch(d.settings, d.bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=d.bootstrap, acks="all",
                                max_request_size=16 << 20, client_id="vigil-loadtest-wb-traffic",
                                **aiokafka_producer_kwargs(one), **aiokafka_security(d.settings))
    hits = HitReader(d.bootstrap, d.topics.hits, d.settings.kafka.fetch_max_wait_ms, d.settings)
    traffic = Traffic(gen, d.topics.sensing, rate, BATCH)
    await producer.start()
    await hits.start()
    task = asyncio.create_task(traffic.run(producer))
    load: subprocess.Popen | None = None
    try:
        await asyncio.sleep(LEAD_S)
        before = await asyncio.to_thread(worker_metrics, d.base_url)
        env = {**os.environ, **d.settings.as_env()}
        with (d.run_dir / "watchlist-load.log").open("ab") as log:
            load = subprocess.Popen([sys.executable, "-m", "cli.main", "watchlist", "load",
                                     str(bulk_file)], env=env, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        t0, started = now_ms(), time.monotonic()
        marks: dict[str, float] = {}
        deadline = started + 120 + run.bulk * 0.002
        while len(marks) < 3:
            await asyncio.sleep(0.25)
            m = await asyncio.to_thread(worker_metrics, d.base_url)
            applied, audited = m.commands - before.commands, m.audited - before.audited
            elapsed = time.monotonic() - started
            if load.poll() is not None:
                if load.returncode != 0:
                    raise RuntimeError(f"vigil watchlist load exited {load.returncode} "
                                       f"(see {d.run_dir / 'watchlist-load.log'})")
                marks.setdefault("cli", elapsed)
            if applied >= run.bulk:
                marks.setdefault("applied", elapsed)
            if audited >= run.bulk:
                marks.setdefault("audited", elapsed)
            if time.monotonic() > deadline:
                raise RuntimeError(f"bulk load not applied and audited in {elapsed:.0f} s "
                                   f"({applied:,.0f} applied, {audited:,.0f} audited)")
            run.progress.show(4, min(applied, audited) / run.bulk,
                              f"{applied:,.0f} applied, {audited:,.0f} audited of "
                              f"{run.bulk:,}, {len(hits.seen):,} hits, {elapsed:.0f}s")
        t1 = now_ms()
        await asyncio.sleep(TAIL_S)
        traffic.stop.set()
        await task
        return {**await _hits_back(d, hits, traffic, run.progress, t0, t1), "marks": marks}
    finally:
        traffic.stop.set()
        if load is not None and load.poll() is None:
            terminate_pid(load.pid)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await hits.stop()
        await producer.stop()


async def _hits_back(d: Deployment, hits: HitReader, traffic: Traffic, progress: Progress,
                     t0: float, t1: float) -> dict[str, Any]:
    """Wait for the planted hits (as long again as the load took, at least a minute);
    return the figures of the bulk phase."""
    expected = {h.hit_id for h in suppress(traffic.expected,
                                           d.settings.alerts.suppress_seconds * 1000)}
    drain_until = time.monotonic() + 60 + (t1 - t0) / 1000
    next_full = 0.0
    while time.monotonic() < drain_until:
        seen = {h.hit_id for h in hits.seen}
        progress.show(5, len(expected & seen) / max(1, len(expected)),
                      f"{len(expected & seen):,} of {len(expected):,} planted hits read")
        if expected <= seen:
            break
        if time.monotonic() >= next_full:  # the live read can skip a hit (HitReader)
            next_full = time.monotonic() + 5
            if expected <= {h.hit_id for h in await hits.read_all()}:
                break
        await asyncio.sleep(0.25)
    await asyncio.sleep(1.0)
    produced = await hits.read_all()
    after = await asyncio.to_thread(worker_metrics, d.base_url)
    first: dict[str, Any] = {}
    for h in hits.seen:
        first.setdefault(h.hit_id, h)
    latencies = [(h.observed_ts, (h.read_ms - h.observed_ts) / 1000)
                 for h in first.values() if h.hit_id in expected]
    in_worker = [(h.observed_ts, (h.detected_ts - h.observed_ts) / 1000)
                 for h in first.values() if h.hit_id in expected and h.detected_ts is not None]
    return {"t0": t0, "t1": t1, "latencies": latencies, "in_worker": in_worker,
            "check": check_hits(expected, [h.hit_id for h in produced]),
            "gc_after": after.gc_buckets, "sent_records": traffic.sent_records}


def measure(settings: Settings, entries: int, bulk: int, rate: float) -> dict[str, Any]:
    """Run every phase; return the JSON result (fig.FIELDS, fig.EXTRA_FIELDS)."""
    load_start = load_average()
    run = _Run(entries, bulk, Starter(Progress()))
    run_dir = Path(tempfile.mkdtemp(prefix="vigil-watchlist-bench-"))
    run.notes.append(f"run folder (worker logs): {run_dir}")
    with sigterm_unwinds(), broker_for(settings) as bootstrap:
        try:
            rss_empty = _empty_worker(bootstrap, run_dir, run)
            # A hash secret of the run's own: without one a worker keeps no checkpoint.
            d = Deployment(bootstrap, run_dir / "main",
                           watchlist_hash_secret=secrets.token_hex(16),
                           alerts_suppress_seconds=str(settings.alerts.suppress_seconds),
                           worker_batch_within_s=str(settings.worker.batch_within_s),
                           worker_batch_max_messages=str(settings.worker.batch_max_messages))
            try:
                _measure_deployment(d, run, rate, rss_empty)
            finally:
                run.starter.close(d)
                # The worker logs stay for reading; the checkpoint (1 GB at 10^7) does not.
                if (folder := checkpoint_directory(d.settings)) is not None:
                    shutil.rmtree(folder, ignore_errors=True)
        finally:
            run.progress.line.done(f"watchlist-bench: run folder {run_dir}")
    result = {"entries": entries, **run.figures,
              "load_average": {"start": load_start, "end": load_average()},
              "commit": _commit(run.notes), "notes": run.notes}
    result["goals_met"] = fig.goals_met(result)
    return {k: result[k] for k in (*fig.FIELDS, *fig.EXTRA_FIELDS)}


def _measure_deployment(d: Deployment, run: _Run, rate: float, rss_empty: int) -> None:
    n, m = run.entries, run.bulk
    spec = TrafficSpec(watchlist_size=min(n, GENERATOR_ENTRIES), hit_rate=HIT_RATE,
                       malformed_share=0.0)
    gen = TrafficGenerator(spec, now_ms())
    expires_ms = now_ms() + 30 * DAY_MS
    started = time.monotonic()
    ends = asyncio.run(write_entries(
        d, gen, n - len(gen.commands), expires_ms,
        lambda done: run.progress.show(1, done / n, f"{done:,} of {n:,} entries written")))
    write_s = time.monotonic() - started
    errors = mark_audited(d, ends)
    run.notes.append(
        f"entries: {len(gen.commands):,} from the traffic generator (devices, plates, "
        f"documents) and {n - len(gen.commands):,} numbered device MACs, written in "
        f"{write_s:.1f} s ({n / write_s:,.0f}/s) in produce batches of up to 512 KiB; their "
        "audit marked done by committing the workers' audit group at their end (as if audited "
        "when they were loaded)" + (f", which failed: {errors}" if errors else ""))
    bulk_file = d.run_dir / "bulk.jsonl"
    write_bulk_file(bulk_file, m, expires_ms, gen)
    rss = RssSampler(lambda: d.worker.pid if d.worker is not None else None)
    rss.start()
    try:
        cold_s, cold_read_s, rss_n = run.starter.start_and_check(d, 2, n)
        checkpoint_s = wait_for_log(d, _CHECKPOINT_WRITTEN, start_timeout_s(n))
        d.stop_worker()
        log_from = d.log_path.stat().st_size
        warm_s, warm_read_s, rss_warm = run.starter.start_and_check(d, 3, n)
        taken = log_lines_since(d, log_from, "watchlist checkpoint")
        assert d.worker is not None
        pid = d.worker.pid
        gc_ready = worker_metrics(d.base_url).gc_buckets
        wait_audited(d, ends, 60 if not errors else 60 + n * 0.005)
        bulk = asyncio.run(_bulk_phase(d, gen, bulk_file, run, rate))
        after_load = memory(pid)
    finally:
        rss.stop()
        bulk_file.unlink(missing_ok=True)
    loaded_s = max(bulk["marks"]["applied"], bulk["marks"]["audited"])
    during = fig.in_window(bulk["latencies"], bulk["t0"], bulk["t1"])
    outside = [lat for obs, lat in bulk["latencies"] if not bulk["t0"] <= obs <= bulk["t1"]]
    check = bulk["check"]
    run.figures = {
        "rss_bytes_per_entry": round(fig.rss_bytes_per_entry(rss_n, rss_empty, n), 1),
        "read_entries_per_s": round(n / cold_read_s, 1),
        "cold_start_s": round(cold_s, 3), "warm_start_s": round(warm_s, 3),
        "bulk_load_entries_per_s": round(m / loaded_s, 1),
        "match_p99_during_load_s": fig.rounded(fig.p99(during)),
        "missed_hits": check.missed_hits, "unexpected_hits": check.unexpected_hits,
        "gc_max_pause_s": fig.rounded(fig.gc_max_pause_s(gc_ready, bulk["gc_after"]))}
    life_gc = fig.gc_max_pause_s({}, bulk["gc_after"])
    run.notes += [
        "warm_start_s: SIGTERM, then a new process to /readyz, from the checkpoint the cold "
        f"worker wrote after loading (done {checkpoint_s:.1f} s after its RSS was sampled); "
        f"the warm worker's log: {' | '.join(taken) or 'no checkpoint line'}; a worker's "
        "start beyond its watchlist (imports, Faust's services, the group join) is the "
        "empty worker's time to ready",
        f"read: the cold worker's reader read {n:,} entries in {cold_read_s:.2f} s (its log), "
        f"the warm one's in {warm_read_s:.2f} s",
        f"RSS: empty {rss_empty / MIB:.1f} MiB; with the entries {rss_n / MIB:.1f} MiB (cold, "
        f"{SETTLE_S:.0f} s after ready), {rss_warm / MIB:.1f} MiB (warm); after the bulk load "
        f"{after_load.get('VmRSS', 0) / MIB:.1f} MiB with {n + m:,} entries, peak (VmHWM) "
        f"{after_load.get('VmHWM', 0) / MIB:.1f} MiB; largest sampled {rss.max_rss / MIB:.1f} MiB",
        f"bulk load: {m:,} new upserts through `vigil watchlist load` (the command done after "
        f"{bulk['marks']['cli']:.1f} s), all applied after {bulk['marks']['applied']:.1f} s, "
        f"all audited after {bulk['marks']['audited']:.1f} s",
        f"traffic: binary sensing at {rate:,.0f} records/s ({BATCH:,} a message, "
        f"{bulk['sent_records']:,} sent) from {LEAD_S:.0f} s before the load to {TAIL_S:.0f} s "
        f"after; {check.expected_hits:,} planted hits, {len(during):,} observed during the load; "
        f"p99 of the others {fig.rounded(fig.p99(outside))} s; {check.duplicates} duplicated; "
        "of the match p99 during the load, observed to detected (the hit's detected_ts, "
        "in the worker): "
        f"{fig.rounded(fig.p99(fig.in_window(bulk['in_worker'], bulk['t0'], bulk['t1'])))} s",
        "gc_max_pause_s: upper bound of the vigil_gc_pause_seconds bucket holding the warm "
        "worker's longest pause from ready to the end of the load (the histogram keeps no "
        f"maximum); over its whole life, start-up and watchlist load included: {life_gc} s"]


_CHECKPOINT_WRITTEN = "watchlist checkpoint written"


def _commit(notes: list[str]) -> str | None:
    """Return the short commit of the code measured (None outside a git checkout)."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                                capture_output=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=root,
                               timeout=30).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return None
    if dirty:
        notes.append(f"the checkout at {root} differs from commit {commit}")
    return commit


def run(settings: Settings, args: argparse.Namespace) -> int:
    """CLI entry: measure, print the summary, write the JSON if asked; exit 1 when a
    planted hit was missed or an unexpected one came (goals not met are figures, not
    failures)."""
    bulk = args.bulk if args.bulk is not None else min(args.entries, BULK_MAX)
    try:
        result = measure(settings, args.entries, bulk, args.rate or RATE)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the `finally` clauses stopped everything
        print("watchlist-bench: interrupted; the workers, the load command and the broker "
              "it started are stopped", file=sys.stderr)
        return 130
    print(fig.summary(result))
    if args.json:
        Path(args.json).write_bytes(dumps(result))
    return 0 if result["missed_hits"] == 0 and result["unexpected_hits"] == 0 else 1
