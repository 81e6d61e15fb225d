"""`vigil subscribe` and `vigil token new`: the CLI's side of access."""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

from config.settings import Settings
from schemas.clock import now_ms
from schemas.dispositions import FALSE_POSITIVE_REASONS, NOTE_MAX_CHARS, OUTCOMES
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


class Endpoint(NamedTuple):
    """Where and as whom `vigil subscribe` talks to a worker."""

    url: str
    token: str


def endpoint(settings: Settings, args: argparse.Namespace) -> Endpoint | None:
    """Return the worker URL and token of the command line, or None after printing why
    they are not usable."""
    from web.terminal import safe_text

    if args.token:
        print("subscribe: warning: --token is visible to other users of this host (ps); "
              f"use {TOKEN_ENV} or --token-file", file=sys.stderr)
    try:
        token = subscriber_token(args, os.environ)
    except TokenMissing as exc:
        print(f"subscribe: {safe_text(str(exc))}", file=sys.stderr)
        return None
    w = settings.worker
    # The worker serves HTTPS only once it has a certificate (worker.tls_cert_file).
    scheme = "https" if w.tls_cert_file else "http"
    url = args.url or f"{scheme}://{w.web_host}:{w.web_port}"
    if args.cafile and not url.startswith("https://"):
        print(f"subscribe: --cafile is for an https:// URL, not {url}", file=sys.stderr)
        return None
    return Endpoint(url, token)


def dispose(at: Endpoint, args: argparse.Namespace) -> int:
    """Record the disposition of --dispose; print the one now in force (0), or the
    refusal (1)."""
    from web.client import dispose_hit
    from web.terminal import safe_json, safe_text

    body = {"outcome": args.outcome,
            **({"reason": args.reason} if args.reason else {}),
            **({"note": args.note} if args.note is not None else {})}
    context = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
    status, answer = dispose_hit(at.url, at.token, args.dispose, body, context)
    if status in (200, 201):
        if args.json:
            print(safe_json(dumps(answer).decode()))
        else:
            d = answer["disposition"]
            reason = f" ({d['reason']})" if d["reason"] else ""
            how = "recorded" if status == 201 else "recorded, replacing the one before"
            print(safe_text(f"{answer['hit_id']}: {d['outcome']}{reason} by {d['by']}: {how}"))
        return 0
    text = safe_json(dumps(answer).decode()) if not isinstance(answer, str) else answer
    print(f"subscribe: refused: HTTP {status}: {safe_text(text[:300])}", file=sys.stderr)
    return 1


def cmd_subscribe(settings: Settings, args: argparse.Namespace) -> int:
    """Print the hits the token may see as they arrive, until Ctrl-C or --max; or, with
    --dispose, record what came of one hit."""
    from web.client import StreamRefused, follow_hits, format_hit
    from web.terminal import safe_json, safe_text

    if (args.dispose is None) != (args.outcome is None):
        print("subscribe: --dispose HIT_ID and --outcome go together", file=sys.stderr)
        return 2
    at = endpoint(settings, args)
    if at is None:
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
        if args.dispose is not None:
            return dispose(at, args)
        follow_hits(at.url, at.token, on_hit, on_notice, cafile=args.cafile)
    # --cafile unreadable, or the worker's certificate not verified by it: no retry helps.
    except (ssl.SSLError, FileNotFoundError, PermissionError) as exc:
        print(f"subscribe: TLS: {exc}", file=sys.stderr)
        return 2
    except StreamRefused as exc:
        print(f"subscribe: refused: {safe_text(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:  # only a disposition's one request gets here: streams retry
        print(f"subscribe: cannot reach {at.url}: {safe_text(str(exc))}", file=sys.stderr)
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
    s = sub.add_parser("subscribe", help="print the hits a token may see, as they arrive; "
                       "or record a hit's disposition (--dispose)")
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
    d = s.add_argument_group("record a disposition instead (contract v1.1)")
    d.add_argument("--dispose", metavar="HIT_ID",
                   help="record what came of this hit, print the disposition now in force, "
                        "and exit")
    d.add_argument("--outcome", choices=OUTCOMES, help="with --dispose: the outcome")
    d.add_argument("--reason", choices=FALSE_POSITIVE_REASONS,
                   help="with --outcome false_positive (required there, refused elsewhere)")
    d.add_argument("--note", help=f"with --dispose: a note of at most {NOTE_MAX_CHARS} "
                                  "characters, on one line")
    s.set_defaults(func=cmd_subscribe)

    t = sub.add_parser("token", help="subscriber tokens")
    tsub = t.add_subparsers(dest="action", required=True)
    tsub.add_parser("new", help="make a token; print it and its token_sha256 line"
                    ).set_defaults(func=cmd_token_new)
