"""`vigil audit verify`: check the audit trail's chains, from the topic or a file."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from config.settings import Settings
from schemas.json import loads


def _audit_from_file(path: str) -> Iterator[tuple[str, Any]]:
    with Path(path).open("rb") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield f"{path}:{n}", loads(line)
                except ValueError:
                    yield f"{path}:{n}", None


def _audit_from_topic(settings: Settings) -> Iterator[tuple[str, Any]]:
    from streams.broker import resolve_bootstrap
    from streams.reader import open_sync_reader
    from streams.readto import FetchedEnds
    from streams.topics import topic_names

    consumer, tps = open_sync_reader(resolve_bootstrap(settings), [topic_names(settings).audit],
                                     client_id="vigil-audit-verify")
    try:
        consumer.seek_to_beginning(*tps)
        ends = FetchedEnds(tps)  # the audit is written in batches of many records
        while True:
            for tp, records in sorted(consumer.poll(timeout_ms=500).items()):
                for r in records:
                    try:
                        value = loads(r.value)
                    except ValueError:
                        value = None
                    yield f"{tp.topic}[{tp.partition}]@{r.offset}", value
            ends.note(consumer.highwater)
            if not ends.unread({tp: consumer.position(tp) for tp in tps}):
                return
    finally:
        consumer.close()


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Check the audit chains of the topic (or a JSON-lines file); name the first bad event."""
    from schemas.audit import verify_chain

    events = _audit_from_file(args.file) if args.file else _audit_from_topic(settings)
    report = verify_chain(events)
    print(report.summary())
    return 1 if report.fault else 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add `audit` to the `vigil` parser."""
    a = sub.add_parser("audit", help="the audit trail")
    asub = a.add_subparsers(dest="action", required=True)
    v = asub.add_parser("verify", help="check every chain; name the first bad event")
    v.add_argument("--file", help="JSON lines of audit events instead of the topic")
    v.set_defaults(func=cmd_audit_verify)
