"""What a bench run does: durations, rates per stream, traffic, a surge, and the presets."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

from loadtest.traffic.surge import Surge
from loadtest.traffic.traffic import STREAMS, TrafficSpec

# Records per message: binary batches of ~1,000 (32 KB), JSON arrays smaller.
BATCHES = {"sensing_binary": 1000, "sensing_json": 500, "plates": 200, "checkins": 100}


@dataclass(frozen=True)
class BenchConfig:
    """What one bench run does."""

    duration_s: float
    rates: dict[str, float]
    batches: dict[str, int]
    spec: TrafficSpec
    pool_s: float  # messages are built for this much traffic, then re-sent (new ts)
    drain_timeout_s: float
    baseline_records: int
    suppress_seconds: int
    workers: int = 1
    join_at_s: float = 0.0  # seconds into the traffic when workers 2..N are started
    surge: Surge | None = None


# About 30 s in all on the 2-core machine: start-up, 10 s of traffic, catch-up, baseline.
QUICK = BenchConfig(
    duration_s=10, rates={"sensing_binary": 20_000, "sensing_json": 4_000, "plates": 1_000,
                          "checkins": 1_000},
    batches=BATCHES, spec=TrafficSpec(watchlist_size=10_000, devices=100_000), pool_s=60,
    drain_timeout_s=30, baseline_records=8_000, suppress_seconds=300)
# A soak: five minutes, a 1 M-entry watchlist. Rates are per stream, all at once.
LONG = BenchConfig(
    duration_s=300, rates={"sensing_binary": 200_000, "sensing_json": 50_000, "plates": 10_000,
                           "checkins": 10_000},
    batches=BATCHES, spec=TrafficSpec(watchlist_size=1_000_000, devices=1_000_000), pool_s=30,
    drain_timeout_s=120, baseline_records=40_000, suppress_seconds=300)


# `vigil loadtest overload`: check-ins, whose records cost the worker the most (GB 11643
# check digits, JSON), so the sender can outrun the worker several times over on the same two
# cores; in 1,000-record messages, as 100-record ones kept the sender under ~110,000/s.
# Measured on the 2-core VM: ~50,000 check-ins/s sustained (at 60,000/s the lag grew), the
# sender up to ~145,000/s while the worker ran. Normal rate half the sustainable rate; the
# surge 7x that (3.5x sustainable; what the sender achieves is reported) for a minute; then
# time to drain the backlog (~6 M records at ~25,000/s net) and to show latency recovered.
# Suppression is off: the message pool is re-sent with new timestamps, so with it nearly
# every planted sighting after the first pass would be suppressed, leaving no hits to time.
OVERLOAD_STREAM = "checkins"
OVERLOAD = BenchConfig(
    duration_s=480, rates={OVERLOAD_STREAM: 25_000},
    batches={**BATCHES, OVERLOAD_STREAM: 1000}, spec=TrafficSpec(), pool_s=30,
    drain_timeout_s=300, baseline_records=0, suppress_seconds=0,
    surge=Surge(factor=7, at_s=60, for_s=60))


def overload_config(args: argparse.Namespace) -> BenchConfig:
    """Return the overload preset with `--rate`, `--factor`, `--duration`, `--surge-at`,
    `--surge-for` and `--seed` given on top."""
    cfg, surge = OVERLOAD, OVERLOAD.surge
    assert surge is not None
    rate = args.rate if args.rate is not None else cfg.rates[OVERLOAD_STREAM]
    return replace(
        cfg, rates={OVERLOAD_STREAM: rate},
        duration_s=args.duration if args.duration is not None else cfg.duration_s,
        spec=replace(cfg.spec, seed=args.seed) if args.seed is not None else cfg.spec,
        surge=Surge(args.factor if args.factor is not None else surge.factor,
                    args.surge_at if args.surge_at is not None else surge.at_s,
                    args.surge_for if args.surge_for is not None else surge.for_s))


def config_from_args(args: argparse.Namespace, suppress_seconds: int) -> BenchConfig:
    """Return the preset (`--quick` or the long run) with the options given on top."""
    cfg = replace(QUICK if args.quick else LONG, suppress_seconds=suppress_seconds)
    rates, batches = dict(cfg.rates), dict(cfg.batches)
    for stream in STREAMS:
        rate = getattr(args, f"rate_{stream}", None)
        if rate is not None:
            rates[stream] = rate
        batch = getattr(args, f"batch_{stream}", None)
        if batch is not None:
            batches[stream] = batch
    spec_changes = {k: getattr(args, k) for k in ("seed", "watchlist_size", "hit_rate",
                                                  "malformed_share", "ocr_noise_rate",
                                                  "repeat_share", "scoped_share")
                    if getattr(args, k, None) is not None}
    duration_s = args.duration if args.duration is not None else cfg.duration_s
    pool_s = args.pool_seconds if args.pool_seconds is not None else cfg.pool_s
    return replace(
        cfg, rates=rates, batches=batches, spec=replace(cfg.spec, **spec_changes),
        duration_s=duration_s,
        baseline_records=0 if args.no_baseline else cfg.baseline_records,
        workers=args.workers, pool_s=pool_s,
        join_at_s=args.join_at if args.join_at is not None else duration_s / 3,
        surge=surge_from_args(args, duration_s))


def surge_from_args(args: argparse.Namespace, duration_s: float) -> Surge | None:
    """Return the surge `--surge FACTOR` asks for (default: a third of the way in, for
    60 s), or None without it."""
    if getattr(args, "surge", None) is None:
        return None
    at_s = args.surge_at if args.surge_at is not None else duration_s / 3
    return Surge(args.surge, at_s, args.surge_for if args.surge_for is not None else 60.0)
