"""`vigil report precision`: per list and match rule, how the hits were disposed and the
precision that follows, read from `vigil.dispositions` (and `vigil.hits` for the hit counts).

The counting is in tables/precision.py; this module reads the topics and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import UTC, datetime
from typing import Any

from config.settings import Settings
from schemas.clock import now_ms
from schemas.json import dumps, loads
from schemas.timestamps import parse_ts
from tables.precision import (
    FALSE_POSITIVE_REASONS,
    DispositionsInForce,
    HitCounter,
    PrecisionRow,
    precision_rows,
    read_disposition,
    read_hit,
)

_RELATIVE = re.compile(r"([0-9]+)([mhdw])")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
SINCE_HELP = ("only dispositions recorded (and hits raised) at or after TIME: a duration back "
              "from now (30m, 12h, 7d, 2w), a date (2026-12-01, midnight UTC), an RFC 3339 "
              "time with offset (2026-12-01T08:00:00+08:00) or epoch milliseconds; "
              "default: everything the topics hold")
# Short column names for the false-positive reasons, so that the table fits 132 columns.
REASON_COLUMNS = {"misread": "misread", "wrong_subject": "wrong_subj",
                  "cloned_or_copied": "cloned", "duplicate": "duplicate", "other": "other"}


def parse_since(text: str, now: int) -> int:
    """Return `text` (see SINCE_HELP) as epoch milliseconds, `now` being the current time;
    raise ValueError when it is none of the accepted forms."""
    text = text.strip()
    if relative := _RELATIVE.fullmatch(text):
        return now - int(relative.group(1)) * _UNIT_MS[relative.group(2)]
    if text.isascii() and text.isdigit():
        return int(text)
    if _DATE.fullmatch(text):
        text += "T00:00:00Z"
    at = parse_ts(text)
    if at is None:
        raise ValueError(f"not a time: {text!r} (30m, 12h, 7d, 2w, 2026-12-01, "
                         "2026-12-01T08:00:00+08:00 or epoch milliseconds)")
    return at


def _since_arg(text: str) -> int:
    try:
        return parse_since(text, now_ms())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


async def read_precision(settings: Settings, since_ms: int | None, *, with_hits: bool
                         ) -> tuple[list[PrecisionRow], int]:
    """Read `vigil.dispositions` whole (and, `with_hits`, `vigil.hits` from `since_ms`) to
    the ends they had when the reading began; return the rows and how many disposition
    records could not be read (skipped)."""
    from streams.broker import resolve_bootstrap
    from streams.scan import scan_topic
    from streams.topics import topic_names

    bootstrap, names = resolve_bootstrap(settings), topic_names(settings)
    in_force, skipped = DispositionsInForce(), 0
    # From the beginning, whatever `since_ms`: a hit disposed long ago may have been
    # disposed again since, and only the latest counts.
    async for record in scan_topic(bootstrap, names.dispositions, settings,
                                   client_id="vigil-report-dispositions"):
        if record.value is None:
            if record.key is not None:
                in_force.remove(record.key.decode("utf-8", "replace"))
            continue
        try:
            disposition = read_disposition(loads(record.value))
        except ValueError:
            disposition = None
        if disposition is None:
            skipped += 1
        else:
            in_force.add(disposition)
    hits = None
    if with_hits:
        counter = HitCounter(since_ms)
        # Seeking by Kafka timestamp is safe: a hit is stamped when sent, after detected_ts.
        async for record in scan_topic(bootstrap, names.hits, settings,
                                       client_id="vigil-report-hits", since_ms=since_ms):
            try:
                hit = read_hit(loads(record.value)) if record.value is not None else None
            except ValueError:
                hit = None
            if hit is not None:
                counter.add(hit)
        hits = counter.counts()
    return precision_rows(in_force.since(since_ms), hits), skipped


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def format_table(rows: list[PrecisionRow], since_ms: int | None) -> str:
    """Return the report as an aligned text table, with a heading and a legend."""
    window = f"since {_iso(since_ms)}" if since_ms is not None else "all recorded"
    heading = f"Precision per list and match rule, dispositions in force {window}"
    if not rows:
        return f"{heading}\nno dispositions\n"
    header = ["list", "match", "hits", "disposed", "confirmed", "false_pos",
              *REASON_COLUMNS.values(), "no_action", "precision"]
    body = [[r.list, r.match, "-" if r.hits is None else str(r.hits), str(r.disposed),
             str(r.confirmed), str(r.false_positives),
             *(str(r.false_positive_by_reason[k]) for k in FALSE_POSITIVE_REASONS),
             str(r.no_action), _percent(r.precision)] for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        # Names to the left, numbers to the right, as in any table of figures.
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    legend = ("precision = confirmed / (confirmed + false_pos); no_action is left out. "
              "false_pos by reason: " + ", ".join(
                  f"{col} = {reason}" if col != reason else reason
                  for reason, col in REASON_COLUMNS.items()))
    return "\n".join([heading, line(header), *map(line, body), legend]) + "\n"


def report_json(rows: list[PrecisionRow], since_ms: int | None, skipped: int) -> dict[str, Any]:
    """Return the report as the object `--json` prints."""
    return {"since_ms": since_ms, "generated_ms": now_ms(), "skipped_records": skipped,
            "rows": [r.as_dict() for r in rows]}


def cmd_report_precision(settings: Settings, args: argparse.Namespace) -> int:
    """Print the precision report (table or JSON); draw it to a PNG with --plot."""
    if args.plot:
        from cli.precision_plot import PlotUnavailable, check_plotting

        try:
            check_plotting()
        except PlotUnavailable as exc:
            print(exc, file=sys.stderr)
            return 2
    from streams.scan import TopicNotFound

    try:
        rows, skipped = asyncio.run(read_precision(settings, args.since,
                                                   with_hits=not args.no_hits))
    except TopicNotFound as exc:
        print(f"topic {exc} does not exist: is kafka.topic_prefix the deployment's, and has "
              "a worker of this version run there (it creates the topics)?", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(dumps(report_json(rows, args.since, skipped)).decode() + "\n")
    else:
        sys.stdout.write(format_table(rows, args.since))
    if skipped:
        print(f"{skipped} records of the dispositions topic were not dispositions: skipped",
              file=sys.stderr)
    if args.plot:
        from cli.precision_plot import plot_precision

        plot_precision(rows, args.plot, settings.alerts.min_list_precision)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `vigil report precision`."""
    report = sub.add_parser("report", help="reports read from the topics")
    rsub = report.add_subparsers(dest="report", required=True)
    p = rsub.add_parser("precision", help="hits disposed and precision, per list and match rule")
    p.add_argument("--since", metavar="TIME", type=_since_arg, default=None, help=SINCE_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("--plot", metavar="FILE", help="also draw precision per list and match rule "
                   "to a PNG file (needs matplotlib: pip install 'vigil[report]')")
    p.add_argument("--no-hits", action="store_true",
                   help="do not read vigil.hits: the hits column stays empty (-)")
    p.set_defaults(func=cmd_report_precision)
