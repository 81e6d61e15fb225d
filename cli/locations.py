"""`vigil locations load FILE`: location commands from JSON lines or CSV to `vigil.locations`.

A CSV file has a header row naming the columns location_id, kind, areas (names separated
by `;`), lat, lon, name, and optionally op (`upsert`, the default, or `delete`); an empty
cell is an absent field. Every line is checked by the same decoder the workers use, so a
refused line is reported with its number and reason and never sent.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Iterator
from typing import Any

from cli.progress import ProgressBar
from cli.rowfile import HeaderError, csv_rows, input_size, is_csv, numbered_lines, open_input
from config.settings import Settings
from schemas.json import dumps
from schemas.locations import decode_location_command, encode_location_command
from schemas.rejection import Rejected

AREA_SEPARATOR = ";"
COLUMNS = ("op", "location_id", "kind", "areas", "lat", "lon", "name")
FORMATS = ("auto", "csv", "jsonl")
# Rows read between two redraws of the progress bar.
PROGRESS_EVERY_ROWS = 1000


def command_of_csv_row(row: dict[str, str]) -> dict[str, Any]:
    """Return the location command a CSV row stands for (cells as the contract's fields).

    A cell that does not parse as its field's type is passed on as text, so that the
    decoder refuses it with that field's reason.
    """
    command: dict[str, Any] = {"op": row.get("op", "").strip() or "upsert"}
    for name in ("location_id", "kind", "name"):
        if row.get(name, ""):
            command[name] = row[name]
    if command["op"] != "delete":  # an empty areas cell: in no area
        areas = row.get("areas", "")
        command["areas"] = [a.strip() for a in areas.split(AREA_SEPARATOR) if a.strip()]
    for name in ("lat", "lon"):
        cell = row.get(name, "").strip()
        if cell:
            command[name] = _number(cell)
    return command


def _number(cell: str) -> float | str:
    try:
        value = float(cell)
    except ValueError:
        return cell
    return value if math.isfinite(value) else cell  # JSON has no NaN: keep it refusable


def judged_lines(path: str, fmt: str, progress: ProgressBar | None = None
                 ) -> Iterator[tuple[int, tuple[bytes, bytes] | Rejected | str]]:
    """Yield (line number, what became of it): (key, value) for an accepted command, its
    value the contract's JSON; the decoder's Rejected; or why a CSV row is no command at
    all. A CSV header naming an unknown column raises HeaderError."""
    with open_input(path) as stream:
        size = input_size(stream) or 0
        if fmt == "csv" or (fmt == "auto" and is_csv(path)):
            rows: Iterator[tuple[int, bytes | str]] = (
                (row.line, f"bad_row: {row.problem}" if row.problem
                 else dumps(command_of_csv_row(row.cells)))
                for row in csv_rows(stream, COLUMNS))
        else:
            rows = numbered_lines(stream)
        for count, (n, value) in enumerate(rows, 1):
            if progress is not None and size and count % PROGRESS_EVERY_ROWS == 0:
                progress.update(stream.tell(), size)
            if isinstance(value, str):
                yield n, value
                continue
            command = decode_location_command(value, None)
            yield n, command if isinstance(command, Rejected) else (
                command.location_id.encode(), encode_location_command(command))


def cmd_locations_load(settings: Settings, args: argparse.Namespace) -> int:
    """Send the accepted commands of a file (or, with --dry-run, print them); report each
    refused line on standard error. Exit 1 when a line was refused, 2 when the CSV header
    names an unknown column (nothing is sent)."""
    from streams.broker import resolve_bootstrap
    from streams.keyed_writer import write_keyed
    from streams.topics import ensure_topics, topic_names

    topic = topic_names(settings).locations
    refused = 0
    bar = ProgressBar(f"loading {args.file}")

    def accepted() -> Iterator[tuple[bytes, bytes]]:
        nonlocal refused
        for n, result in judged_lines(args.file, args.format, bar):
            if not isinstance(result, tuple):
                refused += 1
                bar.close()
                why = result if isinstance(result, str) else f"{result.reason}: {result.detail}"
                print(f"{args.file}:{n}: refused: {why}", file=sys.stderr)
                continue
            if args.dry_run:
                sys.stdout.write(f"{result[1].decode()}\n")
            yield result

    try:
        if args.dry_run:
            count = sum(1 for _ in accepted())
            bar.close()
            print(f"locations: {count} commands would be sent to {topic}, {refused} refused "
                  "(dry run: nothing sent)", file=sys.stderr)
            return 1 if refused else 0
        bootstrap = resolve_bootstrap(settings)
        ensure_topics(bootstrap, settings)
        sent = asyncio.run(write_keyed(bootstrap, topic, accepted(), settings))
    except HeaderError as exc:
        bar.close()
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
    bar.close()
    print(f"locations: {sent} commands sent to {topic}, {refused} refused")
    return 1 if refused else 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add `locations` to the `vigil` parser."""
    p = sub.add_parser("locations", help="location commands (vigil.locations)")
    psub = p.add_subparsers(dest="action", required=True)
    load = psub.add_parser("load", help="send the location commands of a JSON-lines or CSV "
                                        "file; refused lines are reported, not sent")
    load.add_argument("file", metavar="FILE",
                      help="JSON lines (one command a line) or CSV with a header row "
                           "(location_id,kind,areas,lat,lon,name; areas separated by ';'); "
                           "- = standard input")
    load.add_argument("--format", choices=FORMATS, default="auto",
                      help="auto (the default): CSV for a .csv file, else JSON lines")
    load.add_argument("--dry-run", action="store_true",
                      help="print the commands that would be sent, and the refused lines; "
                           "send nothing")
    load.set_defaults(func=cmd_locations_load)
