"""TLS end to end: Kafka over mutual TLS through a terminator (stunnel) in front of the
embedded broker, and the worker's HTTP API over HTTPS.

The broker listens on an internal port that no client is given, and advertises the
terminator's port, which accepts only TLS with a client certificate from the test CA
(stunnel `verify = 2`). Every client (the worker's Faust consumer and producer, its
readers and admin client, `vigil watchlist load`, `vigil produce`, `vigil tail`) is handed
only the terminator's address. Tansu's own tls:// listener is not used: no client completes
a handshake with it (docs/embedded-broker.md).
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.settings import Settings, load_settings
from config.subscribers import token_hash
from schemas.json import dumps, loads
from streams.broker import EmbeddedBroker, free_port, port_open, terminate_pid
from tests.integration.test_end_to_end import now_ms, sighting, upsert
from tests.streams.pki import Pki, write_pki

pytestmark = pytest.mark.integration

STUNNEL = shutil.which("stunnel4") or shutil.which("stunnel")
TOKEN = "tok-tls-desk"
READY_TIMEOUT_S = 90


@dataclass(frozen=True)
class TlsBroker:
    """The embedded broker behind stunnel: clients get `bootstrap` (TLS) only."""

    bootstrap: str
    tls_port: int
    internal_port: int
    stunnel_log: Path


@dataclass(frozen=True)
class TlsWorker:
    settings: Settings
    base_url: str
    log: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return write_pki(tmp_path_factory.mktemp("pki"))


def _stunnel_conf(pki: Pki, tls_port: int, internal_port: int) -> str:
    return "\n".join([
        "foreground = yes", "pid =", "debug = info",
        "[kafka]", f"accept = 127.0.0.1:{tls_port}", f"connect = 127.0.0.1:{internal_port}",
        f"cert = {pki.server_cert}", f"key = {pki.server_key}",
        # Mutual TLS: a client certificate signed by this CA, or no connection.
        f"CAfile = {pki.ca}", "verify = 2", ""])


@pytest.fixture(scope="module")
def tls_broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    if STUNNEL is None:
        pytest.skip("stunnel4 is not installed (as root, ./dev test installs Debian's "
                    "stunnel4 package; else apt-get install stunnel4)")
    folder = tmp_path_factory.mktemp("tls-broker")
    internal_port, tls_port = free_port(), free_port()
    broker = EmbeddedBroker(folder / "broker")
    info = broker.start("127.0.0.1", tls_port, listen_port=internal_port)
    assert info.bootstrap == f"127.0.0.1:{tls_port}"
    conf, log = folder / "stunnel.conf", folder / "stunnel.log"
    conf.write_text(_stunnel_conf(pki, tls_port, internal_port))
    stunnel: subprocess.Popen | None = None
    try:
        with log.open("ab") as out:
            stunnel = subprocess.Popen([STUNNEL, str(conf)], stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while not port_open("127.0.0.1", tls_port):
            if stunnel.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"stunnel did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        yield TlsBroker(info.bootstrap, tls_port, internal_port, log)
    finally:
        if stunnel is not None:
            terminate_pid(stunnel.pid, 5)
        broker.stop()


def tls_settings(broker: TlsBroker, pki: Pki, run: Path, **more: str) -> Settings:
    """Settings of a deployment that reaches Kafka over mutual TLS and serves HTTPS."""
    env = {"VIGIL_KAFKA_BOOTSTRAP": broker.bootstrap,
           "VIGIL_KAFKA_TOPIC_PREFIX": f"tls{uuid.uuid4().hex[:8]}.",
           "VIGIL_KAFKA_SECURITY_PROTOCOL": "SSL", "VIGIL_KAFKA_SSL_CAFILE": str(pki.ca),
           "VIGIL_KAFKA_SSL_CERTFILE": str(pki.client_cert),
           "VIGIL_KAFKA_SSL_KEYFILE": str(pki.client_key),
           "VIGIL_WORKER_TLS_CERT_FILE": str(pki.server_cert),
           "VIGIL_WORKER_TLS_KEY_FILE": str(pki.server_key),
           "VIGIL_WORKER_WEB_PORT": str(free_port()), "VIGIL_BROKER_RUN_DIR": str(run),
           "VIGIL_WORKER_BATCH_WITHIN_S": "0.02", **more}
    return load_settings(env=env)


def vigil_env(settings: Settings) -> dict[str, str]:
    # VIGIL_BOOTSTRAP would override kafka.bootstrap: only the terminator's address is given.
    return {**os.environ, **settings.as_env(), "VIGIL_BOOTSTRAP": ""}


def vigil(settings: Settings, *args: str, stdin: bytes | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], input=stdin,
                          env=vigil_env(settings), capture_output=True, timeout=timeout)


def https_get(url: str, cafile: Path, timeout_s: float = 5) -> int:
    context = ssl.create_default_context(cafile=str(cafile))
    with urllib.request.urlopen(url, timeout=timeout_s, context=context) as resp:
        return resp.status


@pytest.fixture(scope="module")
def tls_worker(tls_broker: TlsBroker, pki: Pki, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[TlsWorker]:
    run = tmp_path_factory.mktemp("tls-worker")
    subs = run / "subscribers.toml"
    subs.write_text(f'[[principal]]\nname = "desk"\ntoken_sha256 = "{token_hash(TOKEN)}"\n'
                    'role = "subscriber"\nlists = ["*"]\nmin_priority = 3\n')
    settings = tls_settings(tls_broker, pki, run, VIGIL_ACCESS_SUBSCRIBERS_FILE=str(subs))
    w = settings.worker
    base_url = f"https://{w.web_host}:{w.web_port}"
    log = run / "worker.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "worker"],
                                env=vigil_env(settings), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"worker exited {proc.returncode}:\n{_tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"worker not ready over HTTPS in {READY_TIMEOUT_S}s:\n{_tail(log)}")
            try:
                if https_get(base_url + "/readyz", pki.ca, 2) == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        yield TlsWorker(settings, base_url, log)
    finally:
        terminate_pid(proc.pid, 15)


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _api_versions(sock: socket.socket) -> bytes:
    """Send a Kafka ApiVersions v0 request on `sock`; return the reply's first bytes (empty
    when the peer closed without answering)."""
    client_id = b"vigil-tls-test"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    sock.settimeout(5)
    try:
        # Without a client certificate a TLS 1.3 server refuses after the client's side of
        # the handshake is done, so the refusal may show as early as this send.
        sock.sendall(struct.pack(">i", len(body)) + body)
        return sock.recv(8)
    except (OSError, TimeoutError):
        return b""


# -- HTTPS ----------------------------------------------------------------------------------
def test_the_worker_serves_https_only_and_it_verifies_with_the_ca(tls_worker: TlsWorker,
                                                                  pki: Pki) -> None:
    assert https_get(tls_worker.base_url + "/healthz", pki.ca) == 200
    with pytest.raises(urllib.error.URLError) as refused:
        https_get(tls_worker.base_url + "/healthz", pki.other_ca)
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
    plain = tls_worker.base_url.replace("https://", "http://")
    with pytest.raises((OSError, http.client.HTTPException)):
        urllib.request.urlopen(plain + "/healthz", timeout=5)


def test_subscribe_refuses_a_worker_its_ca_does_not_verify(tls_worker: TlsWorker,
                                                           pki: Pki) -> None:
    done = vigil(tls_worker.settings, "subscribe", "--token", TOKEN, "--cafile",
                 str(pki.other_ca), "--max", "1", timeout=30)
    assert done.returncode == 2
    assert "certificate verify failed" in done.stderr.decode()


# -- Kafka over mutual TLS ------------------------------------------------------------------
def test_the_broker_answers_only_tls_with_a_client_certificate(tls_broker: TlsBroker,
                                                               pki: Pki) -> None:
    port = tls_broker.tls_port
    with socket.create_connection(("127.0.0.1", port)) as plain:
        assert _api_versions(plain) == b""  # plaintext Kafka on the advertised port: nothing
    for certified in (True, False):
        context = ssl.create_default_context(cafile=str(pki.ca))
        if certified:
            context.load_cert_chain(pki.client_cert, pki.client_key)
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            reply = _api_versions(tls)
        if certified:  # size, then our correlation id
            assert len(reply) == 8 and struct.unpack(">i", reply[4:])[0] == 7
        else:
            assert reply == b""


def test_a_hit_end_to_end_over_mutual_tls(tls_worker: TlsWorker, tls_broker: TlsBroker,
                                          tmp_path: Path, pki: Pki) -> None:
    s = tls_worker.settings
    assert str(tls_broker.internal_port) not in " ".join(vigil_env(s).values())
    accepted_before = _accepted(tls_broker)
    entries = tmp_path / "entries.jsonl"
    entries.write_bytes(dumps(upsert("W-TLS", key="aa:bb:cc:dd:ee:71")) + b"\n")
    loaded = vigil(s, "watchlist", "load", str(entries))
    assert loaded.returncode == 0, loaded.stderr.decode()

    # `vigil subscribe`, its default URL https (worker.tls_cert_file), verified with --cafile.
    sub = subprocess.Popen([sys.executable, "-m", "cli.main", "subscribe", "--token", TOKEN,
                            "--cafile", str(pki.ca), "--json", "--max", "1"],
                           env=vigil_env(s), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in sub.stdout], daemon=True).start()
    try:
        got: dict | None = None
        deadline = time.monotonic() + 60
        sensor = 700
        while got is None and time.monotonic() < deadline and sub.poll() is None:
            # A new location each time: a repeat at one location would be suppressed.
            sensor += 1
            rec = sighting("aabbccddee71", now_ms(), sensor=f"S-{sensor:06d}")
            produced = vigil(s, "produce", "sensing", "-", stdin=dumps(rec) + b"\n")
            assert produced.returncode == 0, produced.stderr.decode()
            try:
                got = loads(lines.get(timeout=3))
            except queue.Empty:
                continue
        if got is None and not lines.empty():
            got = loads(lines.get())
        assert got is not None, (sub.stderr.read().decode() if sub.poll() is not None
                                 else "subscribe got no hit\n") + _tail(tls_worker.log)
        assert got["entry_id"] == "W-TLS"
        assert sub.wait(15) == 0
    finally:
        if sub.poll() is None:
            terminate_pid(sub.pid, 5)

    tailed = vigil(s, "tail", "hits", "--from-beginning", "--max", "1", "--timeout", "20")
    assert tailed.returncode == 0, tailed.stderr.decode()
    (hit,) = [loads(line) for line in tailed.stdout.splitlines()]
    assert hit["entry_id"] == "W-TLS"
    # Every one of those clients came through the terminator, with the client certificate.
    assert _accepted(tls_broker) > accepted_before
    assert "CN=vigil-client" in tls_broker.stunnel_log.read_text(errors="replace")


def _accepted(broker: TlsBroker) -> int:
    """Connections the terminator has accepted so far."""
    text = broker.stunnel_log.read_text(errors="replace")
    return len(re.findall(r"Service \[kafka\] accepted connection", text))
