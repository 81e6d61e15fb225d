"""`vigil watchlist load FILE`: send a file's watchlist commands to the watchlist topic.

FILE is JSON lines (one command per line) or, when it ends in `.csv`, CSV with a header row
(`cli/watchlist_csv.py`); UTF-8 with or without a BOM. Every command is judged by the
topic's own decoder, a chunk of lines at a time (`decode_watchlist_batch`, whose verdicts are
`decode_watchlist_command`'s), before anything is sent: a refused line is reported with its
number and reason and is not sent. `--dry-run` sends nothing: it writes each command that
would be sent to stdout (so its output is a JSON-lines file) and the rest to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import BinaryIO

from cli.progress import ProgressLine, bar
from cli.rowfile import (
    HeaderError,
    csv_rows,
    input_size,
    is_csv,
    numbered_line_chunks,
    open_input,
)
from cli.watchlist_csv import COLUMNS, command_of_row
from config.settings import Settings
from schemas.clock import now_ms
from schemas.json import dumps
from schemas.watchlist_batch import decode_watchlist_batch

# Lines decoded in one call (a bulk load's largest cost). Not more: the producer's acks
# wait meanwhile (measured in watchlist-bench, 200,000 commands: the command took 4.0 s with
# 10,000 a call, 2.1-2.5 s with 1,000).
DECODED_TOGETHER = 1_000
# Commands read between two redraws of the progress line (a redraw is a system call).
PROGRESS_EVERY_LINES = 4096


@dataclass(frozen=True, slots=True)
class LineChunk:
    """Consecutive commands of a file: `values[i]` (command JSON) on line `numbers[i]`, and
    `unreadable`, (line number, why) for each CSV row among them that is no command at all
    (not UTF-8, too many cells)."""

    numbers: list[int]
    values: list[bytes]
    unreadable: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values) + len(self.unreadable)

    @property
    def last_line(self) -> int:
        """Return the number of the chunk's last line."""
        return max(self.numbers[-1:] + [line for line, _ in self.unreadable[-1:]])


@dataclass(frozen=True, slots=True)
class JudgedChunk:
    """A chunk's verdicts: the accepted commands as read (`values`) with their message keys
    (their entry_id), and (line number, why) per refused line, in line order."""

    keys: list[bytes]
    values: list[bytes]
    refusals: list[tuple[int, str]]


def command_chunks(source: str, stream: BinaryIO) -> Iterator[LineChunk]:
    """Yield the file's commands a chunk of DECODED_TOGETHER lines (or CSV rows) at a time."""
    if not is_csv(source):
        for numbers, lines in numbered_line_chunks(stream, DECODED_TOGETHER):
            yield LineChunk(numbers, lines)
        return
    rows = csv_rows(stream, COLUMNS)
    while chunk := list(islice(rows, DECODED_TOGETHER)):
        commands = [row for row in chunk if not row.problem]
        yield LineChunk([row.line for row in commands],
                        [dumps(command_of_row(row.cells)) for row in commands],
                        [(row.line, f"bad_row: {row.problem}") for row in chunk if row.problem])


def judge_chunk(chunk: LineChunk, reference_ms: int, max_ttl_days: int) -> JudgedChunk:
    """Judge a chunk's commands as `decode_watchlist_command(value, None, reference_ms,
    max_ttl_days)` would, in one columnar pass (schemas/watchlist_batch.py)."""
    n = len(chunk.values)
    batch = decode_watchlist_batch(chunk.values, [None] * n, [reference_ms] * n, max_ttl_days)
    # With a value and no key, a row is an upsert, a delete or rejected (never a tombstone).
    refused = batch.rejected
    keys = list(map(str.encode, batch.entry_id if not refused else  # type: ignore[arg-type]
                    (e for i, e in enumerate(batch.entry_id) if i not in refused)))
    values = chunk.values if not refused else [
        v for i, v in enumerate(chunk.values) if i not in refused]
    refusals = [(chunk.numbers[i], f"{r.reason}: {r.detail}") for i, r in refused.items()]
    if chunk.unreadable:
        refusals = sorted(refusals + chunk.unreadable)
    return JudgedChunk(keys, values, refusals)


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

    def count(self, chunk: LineChunk, accepted: int) -> None:
        """Note a chunk read and how many of its commands were accepted; redraw each time
        another PROGRESS_EVERY_LINES lines have been read."""
        before = self.read
        self.line, self.read = chunk.last_line, self.read + len(chunk)
        self.accepted += accepted
        if self.display and self.read // PROGRESS_EVERY_LINES > before // PROGRESS_EVERY_LINES:
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
    from streams.keyed_writer import write_keyed_chunks
    from streams.topics import ensure_topics, topic_names

    topic = topic_names(settings).watchlist
    with open_input(args.file) as stream:
        progress = LoadProgress(stream, args.progress or sys.stderr.isatty())

        def accepted() -> Iterator[tuple[list[bytes], list[bytes], int]]:
            for chunk in command_chunks(args.file, stream):
                # The time judged against is the records' timestamp, which a worker judges
                # them against: an entry accepted here is not expired there.
                judged_ms = now_ms()
                judged = judge_chunk(chunk, judged_ms, settings.watchlist.max_ttl_days)
                for line, why in judged.refusals:
                    progress.refuse(f"{args.file}:{line}: refused: {why}")
                progress.count(chunk, len(judged.values))
                yield judged.keys, judged.values, judged_ms

        try:
            if args.dry_run:
                out = sys.stdout.buffer
                for _, values, _ in accepted():
                    out.writelines(value + b"\n" for value in values)
                out.flush()
            else:
                bootstrap = resolve_bootstrap(settings)
                ensure_topics(bootstrap, settings)
                progress.acked = asyncio.run(write_keyed_chunks(
                    bootstrap, topic, accepted(), settings, progress.set_acked))
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
