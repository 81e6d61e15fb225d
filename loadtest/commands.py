"""The `vigil loadtest ...` commands: arguments in, the tools called."""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from pathlib import Path

from cli.progress import ProgressLine
from config.settings import Settings
from loadtest.bench.benchconfig import BATCHES, BenchConfig
from loadtest.replay.recording import RECORDED_TOPICS
from loadtest.traffic.traffic import STREAMS
from streams.broker import resolve_bootstrap
from streams.topics import topic_names


def _topics(text: str) -> tuple[str, ...]:
    shorts = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = set(shorts) - set(RECORDED_TOPICS)
    if unknown or not shorts:
        raise argparse.ArgumentTypeError(f"topics are some of {', '.join(RECORDED_TOPICS)}")
    return shorts


def cmd_startup(settings: Settings, args: argparse.Namespace) -> int:
    """Measure worker start-up, SIGKILL recovery and hit latency."""
    from loadtest.bench.startup import run

    return run(settings, args)


def _share(text: str) -> float:
    """A share of the entries: a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"not a share in (0, 1]: {text}")
    return value


def _count(text: str) -> int:
    """A positive whole number, written plainly or as `2e6`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text}")
    return int(value)


def cmd_watchlist_bench(settings: Settings, args: argparse.Namespace) -> int:
    """Measure a large watchlist against one worker (issue 19)."""
    from loadtest.bench.watchlist_bench import run

    return run(settings, args)


def cmd_record(settings: Settings, args: argparse.Namespace) -> int:
    """Record the input topics to a file."""
    from loadtest.replay.replay import record

    totals = asyncio.run(record(
        resolve_bootstrap(settings), topic_names(settings), Path(args.file), shorts=args.topics,
        duration_s=args.duration, idle_s=args.idle, from_beginning=args.from_beginning,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms, progress=ProgressLine(),
        settings=settings))
    print(totals.line("recorded"))
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Send a recording back to the input topics."""
    from loadtest.replay.replay import replay

    speed = 0.0 if args.fast else args.speed
    totals = asyncio.run(replay(settings, resolve_bootstrap(settings), Path(args.file),
                                speed=speed, progress=ProgressLine()))
    print(totals.line("replayed"))
    return 0


_BENCH_OPTIONS = ("quick", "duration", "json", "results", *(f"rate_{s}" for s in STREAMS),
                  *(f"batch_{s}" for s in STREAMS),
                  "seed", "watchlist_size", "hit_rate", "malformed_share", "ocr_noise_rate",
                  "repeat_share", "scoped_share", "no_baseline", "pool_seconds", "workers",
                  "join_at", "surge", "surge_at", "surge_for")
_OVERLOAD_OPTIONS = ("rate", "factor", "duration", "surge_at", "surge_for", "seed", "json",
                     "results")


def _command_line(args: argparse.Namespace, command: str, options: tuple[str, ...]) -> str:
    """Return the command as given (the options that were set), for the report."""
    parts = [f"vigil loadtest {command}"]
    for name in options:
        value = getattr(args, name)
        flag = "--" + name.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif value not in (None, False) and (name, value) not in (("results", "results"),
                                                                   ("workers", 1)):
            parts.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    return " ".join(parts)


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    """Run the benchmark; write JSON, PNG and markdown; exit 1 when the run failed."""
    from loadtest.bench.benchconfig import config_from_args

    cfg = config_from_args(args, settings.alerts.suppress_seconds)
    return _run_and_report(settings, cfg, args, _command_line(args, "bench", _BENCH_OPTIONS))


def cmd_overload(settings: Settings, args: argparse.Namespace) -> int:
    """Run the bench's overload preset; exit 1 when a hit was missed or the lag never
    drained."""
    from loadtest.bench.benchconfig import overload_config

    cfg = overload_config(args)
    return _run_and_report(settings, cfg, args,
                           _command_line(args, "overload", _OVERLOAD_OPTIONS))


def _run_and_report(settings: Settings, cfg: BenchConfig, args: argparse.Namespace,
                    command: str) -> int:
    """Run a bench as configured; write JSON, PNG and markdown; return the exit status."""
    from loadtest.bench.bench import run_bench
    from loadtest.bench.report import markdown, plot, summarize
    from schemas.json import dumps

    results = Path(args.results) / time.strftime("bench-%Y%m%d-%H%M%S")
    # SIGTERM unwinds like Ctrl-C, so the worker, baseline and broker are stopped by pid.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        measured = run_bench(settings, cfg, results / "run")
    finally:
        signal.signal(signal.SIGTERM, previous)
    result = summarize(measured, command)
    (results / "result.json").write_bytes(dumps(result))
    if args.json:
        Path(args.json).write_bytes(dumps(result))
    plot(result, results / "bench.png")
    summary = markdown(result, results)
    (results / "summary.md").write_text(summary + "\n")
    print(summary)
    return 0 if result["passed"] else 1


def register(commands: argparse._SubParsersAction) -> None:
    """Add `vigil loadtest` and its verbs to the `vigil` subcommands (the CLI finds this
    through the `vigil.commands` entry point: the product never imports loadtest/)."""
    from loadtest.faults import crash, fuzz, outage
    from loadtest.micro import checkpoint_bench, decode_bench, index_bench

    lt = commands.add_parser("loadtest", help="measurements (not tests)")
    loadtest_commands = lt.add_subparsers(dest="action", required=True)
    st = loadtest_commands.add_parser("startup",
                                      help="worker start-up, SIGKILL recovery, hit latency")
    st.add_argument("--runs", type=int, default=3)
    st.add_argument("--sightings", type=int, default=20, help="latency samples per run")
    st.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    st.set_defaults(func=cmd_startup)
    wb = loadtest_commands.add_parser(
        "watchlist-bench", help="a large watchlist against one worker: memory, read, "
                                "start-up, bulk load under traffic (issue 19)")
    wb.add_argument("--entries", type=_count, required=True,
                    help="entries on the watchlist (2e6 = 2,000,000)")
    wb.add_argument("--bulk", type=_count,
                    help="commands of the bulk load (default: min(entries, 10^6))")
    wb.add_argument("--rate", type=float, help="sensing records/s during the bulk load "
                                               "(default 10,000)")
    wb.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    wb.set_defaults(func=cmd_watchlist_bench)
    ib = loadtest_commands.add_parser("index-bench",
                                      help="watchlist index micro-benchmark vs a Python set")
    index_bench.add_arguments(ib)
    ib.set_defaults(func=lambda _settings, args: index_bench.main(args))
    cb = loadtest_commands.add_parser("checkpoint-bench",
                                      help="write and read a watchlist checkpoint on this disk")
    checkpoint_bench.add_arguments(cb)
    cb.set_defaults(func=lambda _settings, args: checkpoint_bench.main(args))
    db = loadtest_commands.add_parser(
        "decode-bench", help="watchlist command decoding, a batch at a time vs one at a time")
    decode_bench.add_arguments(db)
    db.set_defaults(func=lambda _settings, args: decode_bench.main(args))
    fz = loadtest_commands.add_parser("fuzz",
                                      help="hostile inputs against every decoder (10^6 by default)")
    fuzz.add_arguments(fz)
    fz.set_defaults(func=lambda _settings, args: fuzz.main(args))
    cr = loadtest_commands.add_parser("crash",
                                      help="kill the worker at every crash point under traffic")
    crash.add_arguments(cr)
    cr.set_defaults(func=crash.main)
    ou = loadtest_commands.add_parser("outage",
                                      help="freeze the embedded broker under traffic, repeatedly")
    outage.add_arguments(ou)
    ou.set_defaults(func=outage.main)
    rec = loadtest_commands.add_parser("record", help="record the input topics to a file")
    rec.add_argument("file", metavar="FILE")
    rec.add_argument("--topics", type=_topics, default=RECORDED_TOPICS,
                     help="comma-separated short names (default: all input topics)")
    rec.add_argument("--duration", type=float, default=0, help="stop after this many seconds")
    rec.add_argument("--idle", type=float, default=0,
                     help="stop after this many seconds without a message")
    rec.add_argument("--from-beginning", action="store_true",
                     help="start at the topics' beginning instead of their end")
    rec.set_defaults(func=cmd_record)

    rep = loadtest_commands.add_parser("replay", help="send a recording back at N× its pace")
    rep.add_argument("file", metavar="FILE")
    rep.add_argument("--speed", type=float, default=1.0, help="pace multiplier (default 1)")
    rep.add_argument("--fast", action="store_true", help="as fast as possible")
    rep.set_defaults(func=cmd_replay)

    b = loadtest_commands.add_parser(
        "bench", help="hold a target rate, measure rate, lag, latency, hits, CPU, RSS")
    b.add_argument("--quick", action="store_true", help="about 30 s in all (CI)")
    b.add_argument("--duration", type=float, help="seconds of traffic (default 300; quick 10)")
    b.add_argument("--json", metavar="PATH", help="also write the JSON result here")
    b.add_argument("--results", default="results", help="folder for the run's results")
    for stream in STREAMS:
        b.add_argument(f"--rate-{stream.replace('_', '-')}", dest=f"rate_{stream}", type=float,
                       help=f"{stream} records/s (0 = off)")
        b.add_argument(f"--batch-{stream.replace('_', '-')}", dest=f"batch_{stream}", type=int,
                       help=f"{stream} records per message (default {BATCHES[stream]:,})")
    b.add_argument("--seed", type=int)
    b.add_argument("--watchlist-size", type=int)
    b.add_argument("--hit-rate", type=float, help="share of records that match an entry")
    b.add_argument("--malformed-share", type=float)
    b.add_argument("--ocr-noise-rate", type=float)
    b.add_argument("--repeat-share", type=float,
                   help="share of planted sightings that re-sight an (entry, location) pair")
    b.add_argument("--scoped-share", type=_share, metavar="SHARE",
                   help="then run again on a fresh deployment with this share of the entries "
                        "scoped (0.1 = 10 %%; places or hours, sightings inside and outside): "
                        "the scoped rate beside the unscoped")
    b.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    b.add_argument("--pool-seconds", type=float,
                   help="seconds of traffic built ahead; longer runs re-send it with new "
                        "timestamps, so its sightings repeat (suppression applies)")
    b.add_argument("--workers", type=int, default=1,
                   help="workers in the consumer group; the 2nd.. join while traffic flows")
    b.add_argument("--join-at", type=float,
                   help="seconds into the traffic when the other workers start (default: a "
                        "third of the duration)")
    _add_surge_options(b, "(default: a third of the duration)", "(default 60)")
    b.add_argument("--surge", type=float, metavar="FACTOR",
                   help="every stream's rate times FACTOR for a window of the run")
    b.set_defaults(func=cmd_bench)

    o = loadtest_commands.add_parser(
        "overload", help="check-ins at several times the sustainable rate for a minute: "
                         "memory, lag, latency, hits")
    o.add_argument("--rate", type=float, help="normal check-ins/s (default 25000)")
    o.add_argument("--factor", type=float, help="surge factor (default 7)")
    o.add_argument("--duration", type=float, help="seconds of traffic (default 480)")
    _add_surge_options(o, "(default 60)", "(default 60)")
    o.add_argument("--seed", type=int)
    o.add_argument("--json", metavar="PATH", help="also write the JSON result here")
    o.add_argument("--results", default="results", help="folder for the run's results")
    o.set_defaults(func=cmd_overload)


def _add_surge_options(parser: argparse.ArgumentParser, at_default: str, for_default: str
                       ) -> None:
    parser.add_argument("--surge-at", type=float,
                        help=f"seconds into the traffic when the surge starts {at_default}")
    parser.add_argument("--surge-for", type=float,
                        help=f"seconds the surge lasts {for_default}")
