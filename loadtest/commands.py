"""The `vigil loadtest record | replay | bench` commands: arguments in, the tools called."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from config.settings import Settings
from loadtest.progress import ProgressLine
from loadtest.recording import RECORDED_TOPICS
from streams.broker import resolve_bootstrap
from streams.topics import topic_names


def _topics(text: str) -> tuple[str, ...]:
    shorts = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = set(shorts) - set(RECORDED_TOPICS)
    if unknown or not shorts:
        raise argparse.ArgumentTypeError(f"topics are some of {', '.join(RECORDED_TOPICS)}")
    return shorts


def cmd_record(settings: Settings, args: argparse.Namespace) -> int:
    """Record the input topics to a file."""
    from loadtest.replay import record

    totals = asyncio.run(record(
        resolve_bootstrap(settings), topic_names(settings), Path(args.file), shorts=args.topics,
        duration_s=args.duration, idle_s=args.idle, from_beginning=args.from_beginning,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms, progress=ProgressLine()))
    print(totals.line("recorded"))
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Send a recording back to the input topics."""
    from loadtest.replay import replay

    speed = 0.0 if args.fast else args.speed
    totals = asyncio.run(replay(settings, resolve_bootstrap(settings), Path(args.file),
                                speed=speed, progress=ProgressLine()))
    print(totals.line("replayed"))
    return 0


def register(loadtest_commands: argparse._SubParsersAction) -> None:
    """Add record, replay and bench to the `vigil loadtest` subcommands."""
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
