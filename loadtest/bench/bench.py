"""`vigil loadtest bench`: hold a target rate against a worker and measure it honestly.

The worker is a black box over Kafka. The bench starts a fresh embedded broker (or uses
the cluster in VIGIL_BOOTSTRAP under a fresh topic prefix), loads the generated watchlist
through `vigil.watchlist`, starts a worker and waits for /readyz, sends every enabled
stream at its rate for the duration, then waits for the worker to catch up. It reads the
hits back from `vigil.hits` and compares them with the generator's ground truth; any
missed, unexpected or duplicate hit fails the run. Then it times the naive baseline on
the same sightings. Figures: `loadtest.bench.report`.

With a scoped share (`TrafficSpec.scoped_share`), that run is the unscoped one, and the same
configuration then runs again on a fresh deployment of the same broker with that share of
the entries scoped and the locations put in their areas: the scoped rate beside the
unscoped, measured minutes apart on the same machine. Both deployments get the generator's
location commands before their worker starts, so the scope is the only difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from aiokafka import AIOKafkaProducer
from kafka.errors import KafkaError

from cli.progress import ProgressLine
from config.settings import Settings
from loadtest.bench.baseline_runner import BaselineRun
from loadtest.bench.benchconfig import BenchConfig
from loadtest.bench.report import Measurement, Sample, records_taken_in
from loadtest.harness.deployment import Deployment, broker_for
from loadtest.harness.probes import (
    GroupLag,
    HitReader,
    HitSeen,
    load_average,
    process_sample,
    wait_committed,
    wall_ms,
    worker_counters,
)
from loadtest.traffic.groundtruth import suppress
from loadtest.traffic.sender import StreamPlan, StreamSent, send_plan
from loadtest.traffic.traffic import STREAMS, TrafficGenerator
from schemas.clock import now_ms
from schemas.json import dumps, loads
from streams.brokercheck import aiokafka_producer_kwargs
from streams.clients import BULK_BATCH_BYTES, needs_one_record_per_batch
from streams.security import aiokafka_security
from streams.topics import app_id, locations_audit_group, watchlist_audit_group
from tables.inputs import INPUT_STREAMS

SAMPLE_EVERY_S = 0.5
LATE_HIT_GRACE_S = 1.0
FULL_READ_EVERY_S = 5.0  # after catching up, how long to wait for hits that should not come
WATCHLIST_READY_PER_ENTRY_S = 0.001
WATCHLIST_AUDIT_PER_ENTRY_S = 0.005
JOIN_READY_TIMEOUT_S = 120


async def _load_commands(bootstrap: str, topic: str, commands: list[dict], key_field: str,
                         settings: Settings) -> dict[int, int]:
    """Write commands (watchlist or location, keyed by their `key_field`) and return each
    partition's end (the offset after its last command). Batches hold many records on every
    broker: the workers' readers take the end from fetch responses (streams/readto.py), and
    one record per batch made a 1 M-entry watchlist a million round trips."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                client_id="vigil-loadtest-commands",
                                max_batch_size=BULK_BATCH_BYTES, linger_ms=5,
                                **aiokafka_security(settings))
    await producer.start()
    ends: dict[int, int] = {}
    try:
        for i in range(0, len(commands), 10_000):  # bounded batches of futures
            futures = [await producer.send(topic, dumps(c), key=c[key_field].encode())
                       for c in commands[i:i + 10_000]]
            for meta in await asyncio.gather(*futures):
                ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    finally:
        await producer.stop()
    return ends


@dataclass
class _Workers:
    """The deployment's live workers as (pid, base URL); more may join while traffic flows."""

    live: list[tuple[int, str]]
    group_lag: GroupLag
    joins: list[dict] = field(default_factory=list)
    _last: dict[str, dict[str, float]] = field(default_factory=dict)

    def sample(self, hits: int) -> Sample:
        """Read every live worker's counters (summed), CPU (summed) and RSS (the largest).

        A worker that does not answer counts with its last figures: a crashed or stalled
        worker then shows as lag, not as records un-counted.
        """
        counters: dict[str, float] = {}
        for _, url in list(self.live):
            with contextlib.suppress(OSError):
                self._last[url] = worker_counters(url)
            for name, value in self._last.get(url, {}).items():
                counters[name] = counters.get(name, 0.0) + value
        procs = [p for p in (process_sample(pid) for pid, _ in list(self.live)) if p]
        lag = None
        with contextlib.suppress(KafkaError):
            lag = self.group_lag.messages()
        return Sample(wall_ms(), counters, sum(p.cpu_s for p in procs),
                      max((p.rss_bytes for p in procs), default=0), hits, lag)


@dataclass
class _Phase:
    """What the timed phase saw."""

    sent: list[StreamSent]
    hits: list[HitSeen]
    samples: list[Sample]
    started_ms: float
    finished_ms: float
    joins: list[dict]
    all_hits: list[HitSeen]


async def _timed_phase(d: Deployment, plans: list[StreamPlan], cfg: BenchConfig, one: bool
                       ) -> _Phase:
    """Send (other workers joining at `cfg.join_at_s`), then wait for the workers to catch
    up and the expected hits to arrive."""
    producer = AIOKafkaProducer(bootstrap_servers=d.bootstrap, acks="all",
                                max_request_size=16 << 20, client_id="vigil-loadtest-bench",
                                **aiokafka_producer_kwargs(one), **aiokafka_security(d.settings))
    hits = HitReader(d.bootstrap, d.topics.hits, d.settings.kafka.fetch_max_wait_ms, d.settings)
    await producer.start()
    await hits.start()
    samples: list[Sample] = []
    progress = ProgressLine()
    assert d.worker is not None
    group_lag = GroupLag(d.bootstrap, app_id(d.settings),
                         [d.topics.resolve(s.name) for s in INPUT_STREAMS], d.settings)
    workers = _Workers([(d.worker.pid, d.base_url)], group_lag)
    started = wall_ms() + SAMPLE_EVERY_S * 1000

    async def sample_forever() -> None:
        while True:
            samples.append(await asyncio.to_thread(workers.sample, len(hits.seen)))
            taken_in = sum(records_taken_in(samples[-1], p.stream) for p in plans)
            progress.show(f"bench: {(wall_ms() - started) / 1000:5.1f}s of "
                          f"{cfg.duration_s:.0f}s, {len(workers.live)} worker(s), "
                          f"{taken_in:,.0f} records taken in, {len(hits.seen):,} hits")
            await asyncio.sleep(SAMPLE_EVERY_S)

    async def join_later() -> None:
        await asyncio.sleep(cfg.join_at_s)
        for _ in range(cfg.workers - 1):
            asked = wall_ms()
            proc, url, ready_s = await asyncio.to_thread(d.add_worker, JOIN_READY_TIMEOUT_S)
            workers.live.append((proc.pid, url))
            workers.joins.append({"joined_at_s": round((asked - started) / 1000, 2),
                                  "ready_s": round(ready_s, 2)})

    tasks = [asyncio.create_task(sample_forever())]
    try:
        await asyncio.sleep(SAMPLE_EVERY_S)  # a first sample before any traffic
        started = wall_ms()
        tasks.append(asyncio.create_task(join_later()))
        sent = list(await asyncio.gather(*(send_plan(producer, d.topics, p, cfg.duration_s,
                                                     cfg.surge) for p in plans)))
        finished = wall_ms()
        expected = {h.hit_id for h in suppress(
            [h for s in sent for h in s.expected], cfg.suppress_seconds * 1000)}
        deadline = time.monotonic() + cfg.drain_timeout_s
        next_full_read = 0.0
        while time.monotonic() < deadline:
            if samples and _caught_up(sent, samples[-1]):
                if expected <= {h.hit_id for h in hits.seen}:
                    break
                # The live read may have skipped a hit (HitReader): now and then, look at
                # the whole topic instead.
                if time.monotonic() >= next_full_read:
                    next_full_read = time.monotonic() + FULL_READ_EVERY_S
                    if expected <= {h.hit_id for h in await hits.read_all()}:
                        break
            await asyncio.sleep(0.25)
        await asyncio.sleep(LATE_HIT_GRACE_S)
        all_hits = await hits.read_all()
        for task in tasks:  # a probe that failed must fail the run, not leave gaps in it
            if task.done():
                task.result()
        progress.done(f"bench: sent for {(finished - started) / 1000:.1f}s, "
                      f"{len(hits.seen):,} hits read back")
        return _Phase(sent, list(hits.seen), samples, started, finished, workers.joins,
                      all_hits)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hits.stop()
        await producer.stop()
        group_lag.close()


def _wait_audited(d: Deployment, group: str, topic: str, ends: dict[int, int],
                  timeout_s: float) -> None:
    """Wait until an audit group (the watchlist's, the locations') has committed every
    command of `topic` up to `ends` (partition: offset after the last command), that is
    audited it.

    Each audit has a consumer of its own (agents/watchlist_audit.py, agents/locations.py),
    but it shares the workers' CPU with matching; auditing is set-up, not the rate the bench
    measures, so the traffic waits for it. The ends are the writer's own acks: ListOffsets
    is wrong on the embedded broker for a topic written in batches (streams/readto.py).
    """
    wait_committed(d.bootstrap, group, topic, ends, d.settings, timeout_s, SAMPLE_EVERY_S)


def _caught_up(sent: list[StreamSent], sample: Sample) -> bool:
    return all(records_taken_in(sample, s.stream) >= s.valid_records for s in sent)


def _baseline_records(gen: TrafficGenerator, count: int, batch: int) -> list[dict]:
    """Return `count` JSON sightings from the bench's generator (same devices, same
    watchlist, same hit rate), stamped with the clock."""
    now = now_ms()
    records: list[dict] = []
    for msg in gen.messages("sensing_json", -(-count // batch), batch, rate=1.0):
        records += loads(msg.stamped(now))
    return records[:count]


def run_bench(settings: Settings, cfg: BenchConfig, run_dir: Path) -> Measurement:
    """Run the bench as configured; return everything measured. With a scoped share, the
    run without scoped entries, then the scoped run (`Measurement.scoped`, no baseline)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with broker_for(settings) as bootstrap:
        unscoped = replace(cfg, spec=replace(cfg.spec, scoped_share=0.0))
        measured = _run_deployment(settings, unscoped, bootstrap, run_dir)
        if cfg.spec.scoped_share:
            measured.scoped = _run_deployment(settings, replace(cfg, baseline_records=0),
                                              bootstrap, run_dir / "scoped")
    return measured


def _run_deployment(settings: Settings, cfg: BenchConfig, bootstrap: str, run_dir: Path
                    ) -> Measurement:
    """Run the bench once on a fresh deployment (topics, worker) of the broker."""
    load_start = load_average()
    w = settings.worker
    d = Deployment(bootstrap, run_dir, alerts_suppress_seconds=str(cfg.suppress_seconds),
                   worker_batch_within_s=str(w.batch_within_s),
                   worker_batch_max_messages=str(w.batch_max_messages))
    baseline_run: BaselineRun | None = None
    try:
        gen = TrafficGenerator(cfg.spec, now_ms())
        plans = []
        for stream in STREAMS:
            rate, batch = cfg.rates.get(stream, 0), cfg.batches[stream]
            if rate > 0:
                pool = max(1, int(min(cfg.pool_s, cfg.duration_s) * rate / batch))
                plans.append(StreamPlan(stream, rate,
                                        list(gen.messages(stream, pool, batch, rate))))
        one = needs_one_record_per_batch(d.settings, bootstrap)
        loaded = time.monotonic()
        location_ends = asyncio.run(_load_commands(bootstrap, d.topics.locations,
                                                   gen.location_commands, "location_id",
                                                   d.settings))
        watchlist_ends = asyncio.run(_load_commands(bootstrap, d.topics.watchlist,
                                                    gen.commands, "entry_id", d.settings))
        if cfg.baseline_records:
            watched = [(c["id_type"], c["key"], c["entry_id"]) for c in gen.commands
                       if c["subject_type"] == "device"]
            records = _baseline_records(gen, cfg.baseline_records, cfg.batches["sensing_json"])
            baseline_run = BaselineRun(d.settings, bootstrap, watched, records, one, run_dir)
        ready_s = d.start_worker(60 + len(gen.commands) * WATCHLIST_READY_PER_ENTRY_S)
        ready = loads(d.http_text("/readyz"))
        entries = ready["watchlist_entries"]
        if (entries, ready["locations"]) != (len(gen.commands), len(gen.location_commands)):
            raise RuntimeError(f"worker holds {entries} entries and {ready['locations']} "
                               f"locations, {len(gen.commands)} and "
                               f"{len(gen.location_commands)} sent")
        _wait_audited(d, watchlist_audit_group(d.settings), d.topics.watchlist, watchlist_ends,
                      60 + len(gen.commands) * WATCHLIST_AUDIT_PER_ENTRY_S)
        _wait_audited(d, locations_audit_group(d.settings), d.topics.locations, location_ends,
                      60 + len(gen.location_commands) * WATCHLIST_AUDIT_PER_ENTRY_S)
        setup_s = time.monotonic() - loaded
        phase = asyncio.run(_timed_phase(d, plans, cfg, one))
        d.stop_worker()
        baseline = None
        if baseline_run is not None:
            baseline = baseline_run.time()
    finally:
        if baseline_run is not None:
            baseline_run.stop()
        d.close()
    return Measurement(cfg=cfg, sent=phase.sent, hits=phase.hits, samples=phase.samples,
                       started_ms=phase.started_ms, finished_ms=phase.finished_ms,
                       baseline=baseline, watchlist_entries=entries, worker_ready_s=ready_s,
                       setup_s=setup_s, embedded_broker=not settings.kafka.bootstrap,
                       one_record_per_batch=one, joins=phase.joins, all_hits=phase.all_hits,
                       load_average={"start": load_start, "end": load_average()})
