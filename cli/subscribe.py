"""`vigil subscribe`, `vigil token new` and `vigil audit verify`: the CLI's side of access
and audit."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from config.settings import Settings
from schemas.clock import now_ms
from schemas.json import dumps, loads


def cmd_subscribe(settings: Settings, args: argparse.Namespace) -> int:
    """Print the hits the token may see as they arrive, until Ctrl-C or --max."""
    from web.client import StreamRefused, follow_hits, format_hit

    w = settings.worker
    url = args.url or f"http://{w.web_host}:{w.web_port}"
    colour = args.colour == "always" or (args.colour == "auto" and sys.stdout.isatty())
    shown = 0

    def on_hit(hit: dict[str, Any]) -> bool:
        nonlocal shown
        now = now_ms()
        text = dumps(hit).decode() if args.json else format_hit(hit, now, colour)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        shown += 1
        return not (args.max and shown >= args.max)

    def on_notice(text: str) -> None:
        print(f"subscribe: {text}", file=sys.stderr)

    try:
        follow_hits(url, args.token, on_hit, on_notice)
    except StreamRefused as exc:
        print(f"subscribe: refused: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def cmd_token_new(settings: Settings, args: argparse.Namespace) -> int:
    """Print a new token and the line that configures its hash."""
    from config.subscribers import new_token, token_hash

    token = new_token()
    print(f"token: {token}")
    print(f'token_sha256 = "{token_hash(token)}"')
    return 0


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
    """Add `subscribe`, `token` and `audit` to the `vigil` parser."""
    s = sub.add_parser("subscribe", help="print the hits a token may see, as they arrive")
    s.add_argument("--token", required=True, help="bearer token of a subscriber")
    s.add_argument("--url", help="worker URL (default: this config's web host and port)")
    s.add_argument("--colour", choices=["auto", "always", "never"], default="auto")
    s.add_argument("--json", action="store_true", help="print each hit as its JSON")
    s.add_argument("--max", type=int, default=0, help="stop after this many hits")
    s.set_defaults(func=cmd_subscribe)

    t = sub.add_parser("token", help="subscriber tokens")
    tsub = t.add_subparsers(dest="action", required=True)
    tsub.add_parser("new", help="make a token; print it and its token_sha256 line"
                    ).set_defaults(func=cmd_token_new)

    a = sub.add_parser("audit", help="the audit trail")
    asub = a.add_subparsers(dest="action", required=True)
    v = asub.add_parser("verify", help="check every chain; name the first bad event")
    v.add_argument("--file", help="JSON lines of audit events instead of the topic")
    v.set_defaults(func=cmd_audit_verify)
