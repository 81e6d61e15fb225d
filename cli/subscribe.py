"""`vigil subscribe` and `vigil token new`: the CLI's side of access."""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from collections.abc import Mapping
from typing import Any

from config.settings import Settings
from schemas.clock import now_ms
from schemas.json import dumps

TOKEN_ENV = "VIGIL_TOKEN"


class TokenMissing(Exception):
    """No usable token was given; the message is one line for the operator."""


def subscriber_token(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """Return the token of --token-file, --token or VIGIL_TOKEN (in that order); raise
    TokenMissing when none gives one."""
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as fh:
                token = fh.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenMissing(f"cannot read --token-file: {exc}") from None
        if not token:
            raise TokenMissing("--token-file holds no token on its first line")
        return token
    token = (args.token or env.get(TOKEN_ENV, "")).strip()
    if not token:
        raise TokenMissing(f"a token is needed: set {TOKEN_ENV}, or --token-file FILE")
    return token


def cmd_subscribe(settings: Settings, args: argparse.Namespace) -> int:
    """Print the hits the token may see as they arrive, until Ctrl-C or --max."""
    from web.client import StreamRefused, follow_hits, format_hit
    from web.terminal import safe_json, safe_text

    if args.token:
        print("subscribe: warning: --token is visible to other users of this host (ps); "
              f"use {TOKEN_ENV} or --token-file", file=sys.stderr)
    try:
        token = subscriber_token(args, os.environ)
    except TokenMissing as exc:
        print(f"subscribe: {safe_text(str(exc))}", file=sys.stderr)
        return 2

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
        text = safe_json(dumps(hit).decode()) if args.json else format_hit(hit, now, colour)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        shown += 1
        return not (args.max and shown >= args.max)

    def on_notice(text: str) -> None:
        print(f"subscribe: {safe_text(text)}", file=sys.stderr)

    try:
        follow_hits(url, token, on_hit, on_notice, cafile=args.cafile)
    # --cafile unreadable, or the worker's certificate not verified by it: no retry helps.
    except (ssl.SSLError, FileNotFoundError, PermissionError) as exc:
        print(f"subscribe: TLS: {exc}", file=sys.stderr)
        return 2
    except StreamRefused as exc:
        print(f"subscribe: refused: {safe_text(str(exc))}", file=sys.stderr)
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
    who = s.add_mutually_exclusive_group()
    who.add_argument("--token-file", metavar="FILE",
                     help=f"file whose first line is the bearer token (default: ${TOKEN_ENV})")
    who.add_argument("--token", help="bearer token (visible to other users in ps: prefer "
                     f"${TOKEN_ENV} or --token-file)")
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
