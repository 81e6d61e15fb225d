"""`vigil loadtest bench`: hold a target rate against a worker and measure it honestly.

The worker is a black box over Kafka. The bench starts a fresh embedded broker (or uses
the cluster in VIGIL_BOOTSTRAP under a fresh topic prefix), loads the generated watchlist
through `vigil.watchlist`, starts a worker and waits for /readyz, sends every enabled
stream at its rate for the duration, then waits for the worker to catch up. It reads the
hits back from `vigil.hits` and compares them with the generator's ground truth; any
missed, unexpected or duplicate hit fails the run. Then it times the naive baseline on
the same sightings. Figures: `loadtest.report`.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from config.settings import Settings
from loadtest.baseline_runner import BaselineRun
from loadtest.benchconfig import BenchConfig
from loadtest.deployment import Deployment, broker_for
from loadtest.groundtruth import suppress
from loadtest.probes import HitReader, HitSeen, process_sample, wall_ms, worker_counters
from loadtest.progress import ProgressLine
from loadtest.report import Measurement, Sample, processed
from loadtest.sender import StreamPlan, StreamSent, send_plan
from loadtest.traffic import STREAMS, TrafficGenerator
from schemas.json import dumps, loads
from streams.brokercheck import aiokafka_producer_kwargs
from streams.clients import needs_one_record_per_batch

SAMPLE_EVERY_S = 0.5
LATE_HIT_GRACE_S = 1.0  # after catching up, how long to wait for hits that should not come
WATCHLIST_READY_PER_ENTRY_S = 0.001


async def _load_watchlist(bootstrap: str, topic: str, commands: list[dict], one: bool) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                client_id="vigil-loadtest-watchlist",
                                **aiokafka_producer_kwargs(one))
    await producer.start()
    try:
        for i in range(0, len(commands), 10_000):  # bounded batches of futures
            futures = [await producer.send(topic, dumps(c), key=c["entry_id"].encode())
                       for c in commands[i:i + 10_000]]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _timed_phase(d: Deployment, plans: list[StreamPlan], cfg: BenchConfig, one: bool
                       ) -> tuple[list[StreamSent], list[HitSeen], list[Sample], float, float]:
    """Send, then wait for the worker to catch up; return what was sent, the hits read,
    the samples, and the wall-clock start and end of sending."""
    producer = AIOKafkaProducer(bootstrap_servers=d.bootstrap, acks="all",
                                max_request_size=16 << 20, client_id="vigil-loadtest-bench",
                                **aiokafka_producer_kwargs(one))
    hits = HitReader(d.bootstrap, d.topics.hits, d.settings.kafka.fetch_max_wait_ms)
    await producer.start()
    await hits.start()
    samples: list[Sample] = []
    progress = ProgressLine()
    t0 = wall_ms()
    assert d.worker is not None
    pid = d.worker.pid

    async def sample_forever() -> None:
        while True:
            counters = await asyncio.to_thread(worker_counters, d.base_url)
            proc = process_sample(pid)
            samples.append(Sample(wall_ms(), counters, proc.cpu_s if proc else 0.0,
                                  proc.rss_bytes if proc else 0, len(hits.seen)))
            taken_in = sum(processed(samples[-1], p.stream) for p in plans)
            progress.show(f"bench: {(wall_ms() - t0) / 1000:5.1f}s of {cfg.duration_s:.0f}s, "
                          f"{taken_in:,.0f} records taken in by the worker, "
                          f"{len(hits.seen):,} hits")
            await asyncio.sleep(SAMPLE_EVERY_S)

    sampler = asyncio.create_task(sample_forever())
    try:
        await asyncio.sleep(SAMPLE_EVERY_S)  # a first sample before any traffic
        started = wall_ms()
        sent = list(await asyncio.gather(*(send_plan(producer, d.topics, p, cfg.duration_s)
                                           for p in plans)))
        finished = wall_ms()
        expected = {h.hit_id for h in suppress(
            [h for s in sent for h in s.expected], cfg.suppress_seconds * 1000)}
        deadline = time.monotonic() + cfg.drain_timeout_s
        while time.monotonic() < deadline:
            if samples and _caught_up(sent, samples[-1]) and expected <= {
                    h.hit_id for h in hits.seen}:
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(LATE_HIT_GRACE_S)
        progress.done(f"bench: sent for {(finished - started) / 1000:.1f}s, "
                      f"{len(hits.seen):,} hits read back")
        return sent, list(hits.seen), samples, started, finished
    finally:
        sampler.cancel()
        await hits.stop()
        await producer.stop()


def _caught_up(sent: list[StreamSent], sample: Sample) -> bool:
    return all(processed(sample, s.stream) >= s.valid_records for s in sent)


def _baseline_records(gen: TrafficGenerator, count: int, batch: int) -> list[dict]:
    """Return `count` JSON sightings from the bench's generator (same devices, same
    watchlist, same hit rate), stamped with the clock."""
    now = time.time_ns() // 1_000_000
    records: list[dict] = []
    for msg in gen.messages("sensing_json", -(-count // batch), batch, rate=1.0):
        records += loads(msg.stamped(now))
    return records[:count]


def run_bench(settings: Settings, cfg: BenchConfig, run_dir: Path) -> Measurement:
    """Run the bench as configured; return everything measured."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with broker_for(settings) as bootstrap:
        w = settings.worker
        d = Deployment(bootstrap, run_dir, alerts_suppress_seconds=str(cfg.suppress_seconds),
                       worker_batch_within_s=str(w.batch_within_s),
                       worker_batch_max_messages=str(w.batch_max_messages))
        baseline_run: BaselineRun | None = None
        try:
            gen = TrafficGenerator(cfg.spec, time.time_ns() // 1_000_000)
            plans = []
            for stream in STREAMS:
                rate, batch = cfg.rates.get(stream, 0), cfg.batches[stream]
                if rate > 0:
                    pool = max(1, int(min(cfg.pool_s, cfg.duration_s) * rate / batch))
                    plans.append(StreamPlan(stream, rate,
                                            list(gen.messages(stream, pool, batch, rate))))
            one = needs_one_record_per_batch(d.settings, bootstrap)
            loaded = time.monotonic()
            asyncio.run(_load_watchlist(bootstrap, d.topics.watchlist, gen.commands, one))
            if cfg.baseline_records:
                watched = [(c["id_type"], c["key"], c["entry_id"]) for c in gen.commands
                           if c["subject_type"] == "device"]
                records = _baseline_records(gen, cfg.baseline_records,
                                            cfg.batches["sensing_json"])
                baseline_run = BaselineRun(d.settings, bootstrap, watched, records, one, run_dir)
            ready_s = d.start_worker(60 + len(gen.commands) * WATCHLIST_READY_PER_ENTRY_S)
            entries = d.watchlist_entries()
            if entries != len(gen.commands):
                raise RuntimeError(f"worker holds {entries} entries, {len(gen.commands)} sent")
            setup_s = time.monotonic() - loaded
            sent, hits, samples, started, finished = asyncio.run(_timed_phase(d, plans, cfg, one))
            d.stop_worker()
            baseline = None
            if baseline_run is not None:
                baseline = baseline_run.time()
        finally:
            if baseline_run is not None:
                baseline_run.stop()
            d.close()
    return Measurement(cfg=cfg, sent=sent, hits=hits, samples=samples, started_ms=started,
                       finished_ms=finished, baseline=baseline, watchlist_entries=entries,
                       worker_ready_s=ready_s, setup_s=setup_s, embedded_broker=not
                       settings.kafka.bootstrap, one_record_per_batch=one)
