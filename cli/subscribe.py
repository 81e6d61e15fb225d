"""`vigil subscribe` and `vigil token new`: the CLI's side of access."""

from __future__ import annotations

import argparse
import ssl
import sys
from typing import Any

from config.settings import Settings
from schemas.clock import now_ms
from schemas.json import dumps


def cmd_subscribe(settings: Settings, args: argparse.Namespace) -> int:
    """Print the hits the token may see as they arrive, until Ctrl-C or --max."""
    from web.client import StreamRefused, follow_hits, format_hit

    w = settings.worker
    # The worker serves HTTPS only once it has a certificate (worker.tls_cert_file).
    scheme = "https" if w.tls_cert_file else "http"
    url = args.url or f"{scheme}://{w.web_host}:{w.web_port}"
    if args.cafile and not url.startswith("https://"):
        print(f"subscribe: --cafile is for an https:// URL, not {url}", file=sys.stderr)
        return 2
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
        follow_hits(url, args.token, on_hit, on_notice, cafile=args.cafile)
    # --cafile unreadable, or the worker's certificate not verified by it: no retry helps.
    except (ssl.SSLError, FileNotFoundError, PermissionError) as exc:
        print(f"subscribe: TLS: {exc}", file=sys.stderr)
        return 2
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


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add `subscribe` and `token` to the `vigil` parser."""
    s = sub.add_parser("subscribe", help="print the hits a token may see, as they arrive")
    s.add_argument("--token", required=True, help="bearer token of a subscriber")
    s.add_argument("--url", help="worker URL (default: this config's web host and port, "
                   "https when worker.tls_cert_file is set)")
    s.add_argument("--cafile", metavar="FILE",
                   help="PEM CA certificates that verify an https worker (default: the system's)")
    s.add_argument("--colour", choices=["auto", "always", "never"], default="auto")
    s.add_argument("--json", action="store_true", help="print each hit as its JSON")
    s.add_argument("--max", type=int, default=0, help="stop after this many hits")
    s.set_defaults(func=cmd_subscribe)

    t = sub.add_parser("token", help="subscriber tokens")
    tsub = t.add_subparsers(dest="action", required=True)
    tsub.add_parser("new", help="make a token; print it and its token_sha256 line"
                    ).set_defaults(func=cmd_token_new)
