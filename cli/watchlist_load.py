"""`vigil watchlist load FILE`: send a file's watchlist commands to the watchlist topic.

FILE is JSON lines (one command per line) or, when it ends in `.csv`, CSV with a header row
(`cli/watchlist_csv.py`); UTF-8 with or without a BOM. Every command is judged by
`decode_watchlist_command`, the topic's own decoder, before anything is sent: a refused line
is reported with its number and reason and is not sent. `--dry-run` sends nothing: it writes
each command that would be sent to stdout (so its output is a JSON-lines file) and the rest
to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from itertools import islice
from typing import BinaryIO

from cli.progress import ProgressLine, bar
from cli.rowfile import HeaderError, csv_rows, input_size, is_csv, numbered_lines, open_input
from cli.watchlist_csv import COLUMNS, command_of_row
from config.settings import Settings
from schemas.clock import now_ms
from schemas.json import dumps
from schemas.rejection import Rejected
from schemas.watchlist_commands import decode_watchlist_commands

# Lines decoded in one call (a bulk load's largest cost). Not more: the producer's acks
# wait meanwhile (measured in watchlist-bench, 200,000 commands: the command took 4.0 s with
# 10,000 a call, 2.1-2.5 s with 1,000).
DECODED_TOGETHER = 1_000
# Commands read between two redraws of the progress line (a redraw is a system call).
PROGRESS_EVERY_LINES = 4096


def command_values(source: str, stream: BinaryIO) -> Iterator[tuple[int, bytes | str]]:
    """Yield (line number, command JSON) per command of the file, or (line number, why)
    for a CSV row that is no command at all (not UTF-8, too many cells)."""
    if not is_csv(source):
        yield from numbered_lines(stream)
        return
    for row in csv_rows(stream, COLUMNS):
        yield row.line, f"bad_row: {row.problem}" if row.problem else dumps(
            command_of_row(row.cells))


class LoadProgress:
    """Counts of a load, and the progress line on stderr when wanted."""

    def __init__(self, stream: BinaryIO, shown: bool) -> None:
        self.stream, self.size = stream, input_size(stream)
        self.line = self.read = self.accepted = self.refused = self.acked = 0
        self.display = ProgressLine() if shown else None

    def refuse(self, text: str) -> None:
        """Count a refused line and print why."""
        self.refused += 1
        if self.display:
            self.display.note(text)
        else:
            print(text, file=sys.stderr)

    def tick(self, line: int) -> None:
        """Note that one more command was read, up to `line`; redraw now and then."""
        self.line, self.read = line, self.read + 1
        if self.display and self.read % PROGRESS_EVERY_LINES == 0:
            self.display.show(self.status())

    def status(self) -> str:
        """Return the progress line's text."""
        done = f"{bar(self.stream.tell() / self.size)} " if self.size else ""
        return (f"{done}line {self.line:,}: {self.accepted:,} accepted, "
                f"{self.refused:,} refused, {self.acked:,} sent")

    def set_acked(self, acked: int) -> None:
        """Record how many commands the broker has acknowledged."""
        self.acked = acked

    def close(self) -> None:
        """End the progress line."""
        if self.display:
            self.display.done(self.status())


def run_watchlist_load(settings: Settings, args: argparse.Namespace) -> int:
    """Judge and send (or with --dry-run, print) the commands of args.file; return 0, or 1
    when any line was refused, or 2 when the file cannot be read as a whole."""
    from streams.broker import resolve_bootstrap
    from streams.keyed_writer import write_keyed
    from streams.topics import ensure_topics, topic_names

    topic = topic_names(settings).watchlist
    with open_input(args.file) as stream:
        progress = LoadProgress(stream, args.progress or sys.stderr.isatty())

        def accepted() -> Iterator[tuple[bytes, bytes]]:
            lines = command_values(args.file, stream)
            while chunk := list(islice(lines, DECODED_TOGETHER)):
                commands = [(n, v) for n, v in chunk if not isinstance(v, str)]
                verdicts = iter(decode_watchlist_commands(
                    [v for _, v in commands], [None] * len(commands),
                    [now_ms()] * len(commands), settings.watchlist.max_ttl_days))
                for n, value in chunk:
                    progress.tick(n)
                    if isinstance(value, str):
                        progress.refuse(f"{args.file}:{n}: refused: {value}")
                        continue
                    cmd = next(verdicts)
                    if isinstance(cmd, Rejected):
                        progress.refuse(f"{args.file}:{n}: refused: {cmd.reason}: {cmd.detail}")
                        continue
                    progress.accepted += 1
                    yield cmd.entry_id.encode(), value

        try:
            if args.dry_run:
                out = sys.stdout.buffer
                for _, value in accepted():
                    out.write(value + b"\n")
                out.flush()
            else:
                bootstrap = resolve_bootstrap(settings)
                ensure_topics(bootstrap, settings)
                progress.acked = asyncio.run(write_keyed(bootstrap, topic, accepted(),
                                                         settings, progress.set_acked))
        except HeaderError as exc:
            print(f"{args.file}: {exc}", file=sys.stderr)
            return 2
        finally:
            progress.close()
    if args.dry_run:
        print(f"watchlist (dry run): {progress.accepted} commands would be sent to {topic}, "
              f"{progress.refused} refused", file=sys.stderr)
    else:
        print(f"watchlist: {progress.acked} commands sent to {topic}, {progress.refused} refused")
    return 1 if progress.refused else 0
