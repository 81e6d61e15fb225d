"""`vigil subscribe` against a hostile stand-in server: where the token comes from, and
that nothing the server sends reaches the terminal with its control characters raw."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from schemas.json import dumps, loads
from web.sse import frame

TOKEN = "tok-subscribe-test"
# A sensor id as an attacker would send it: a window title, colours, a bell, a screen
# clear, C1 controls, a line separator, a bidi override.
HOSTILE = "S-\x1b]0;owned\x07\x1b[31m\x1b[2J\x7f\x9b1m\x85\u2028\u202eexe.txt"
HIT = {"hit_id": "h-\x1b[5m", "entry_id": "W-1\x07", "list": "wanted-persons", "priority": 1,
       "source": "sensing", "location_id": HOSTILE, "observed_ts": 1_795_000_000_000,
       "detected_ts": 1_795_000_000_001, "match": "exact",
       "observed": {"id_type": "mac", "device_id": "a0\x1b[8m"}}
UNSAFE = {chr(c) for c in [*range(0x20), *range(0x7f, 0xa0)]} - {"\n"} | set(
    "\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    seen_auth: list[str | None]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.seen_auth.append(self.headers.get("Authorization"))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            body = dumps({"error": "bad_token", "detail": "no\x1b[31m \u202eway"})
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(frame("hit", dumps(HIT), "0:1"))
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server(("127.0.0.1", 0), Handler)
    srv.seen_auth = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def subscribe(server: Server, *args: str, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "subscribe", "--url", url, "--max", "1", *args],
        env={**base, **(env or {})}, capture_output=True, text=True, timeout=60)


def raw_unsafe(text: str) -> set[str]:
    return {c for c in text if c in UNSAFE}


def test_the_token_comes_from_vigil_token(server: Server) -> None:
    run = subscribe(server, "--json", env={"VIGIL_TOKEN": TOKEN})
    assert run.returncode == 0, run.stderr
    assert server.seen_auth == [f"Bearer {TOKEN}"]
    assert run.stderr == ""


def test_the_token_comes_from_a_token_file(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    run = subscribe(server, "--json", "--token-file", str(path),
                    env={"VIGIL_TOKEN": "not-this-one"})
    assert run.returncode == 0, run.stderr
    assert server.seen_auth == [f"Bearer {TOKEN}"]


def test_token_on_the_command_line_still_works_with_a_warning(server: Server) -> None:
    run = subscribe(server, "--json", "--token", TOKEN)
    assert run.returncode == 0, run.stderr
    (warning,) = run.stderr.splitlines()
    assert "warning" in warning and "ps" in warning and "VIGIL_TOKEN" in warning


def test_no_token_is_an_error_that_names_the_ways_to_give_one(server: Server,
                                                             tmp_path: Path) -> None:
    run = subscribe(server)
    assert run.returncode == 2 and "VIGIL_TOKEN" in run.stderr and not server.seen_auth
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert subscribe(server, "--token-file", str(empty)).returncode == 2
    assert subscribe(server, "--token-file", str(tmp_path / "missing")).returncode == 2


@pytest.mark.parametrize("mode", [["--json"], ["--colour", "never"], ["--colour", "always"]])
def test_hostile_hits_are_escaped_in_every_output(server: Server, mode: list[str]) -> None:
    run = subscribe(server, *mode, env={"VIGIL_TOKEN": TOKEN})
    assert run.returncode == 0, run.stderr
    out = run.stdout
    if mode == ["--colour", "always"]:  # the only escape sequences are the colour's own
        out = out.replace("\x1b[1;31m", "").replace("\x1b[0m", "")
    assert raw_unsafe(out) == set(), repr(out)
    if mode == ["--json"]:
        assert loads(out) == HIT, "the JSON still parses to what the server sent"
    else:
        assert "S-\\x1b]0;owned\\x07\\x1b[31m" in out


def test_a_refusal_body_is_escaped_too(server: Server) -> None:
    run = subscribe(server, env={"VIGIL_TOKEN": "wrong"})
    assert run.returncode == 1
    assert "refused" in run.stderr and raw_unsafe(run.stderr) == set(), repr(run.stderr)
