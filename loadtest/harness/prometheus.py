"""A Prometheus server from Debian's `prometheus` package, run for a test or a measurement.

It listens on a free loopback port, keeps its data in its own folder, scrapes the given
workers every `scrape_interval_s` and loads Vigil's alert rules; it is stopped by its pid.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from schemas.json import dumps, loads
from streams.broker import free_port, terminate_pid

RULES_FILE = Path(__file__).resolve().parents[2] / "config" / "prometheus" / "vigil-alerts.yml"


class PrometheusError(RuntimeError):
    """Prometheus could not be started, or refused a query."""


def scrape_config(targets: list[str], scrape_interval_s: float) -> dict[str, Any]:
    """Return a Prometheus config (JSON is YAML) scraping `targets` as job `vigil`."""
    interval = f"{round(scrape_interval_s * 1000)}ms"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(RULES_FILE)],
        "scrape_configs": [{"job_name": "vigil", "metrics_path": "/metrics",
                            "static_configs": [{"targets": targets}]}],
    }


class PrometheusServer:
    """One `prometheus` process with its own port, config and data folder."""

    def __init__(self, run_dir: Path, targets: list[str], scrape_interval_s: float = 1.0) -> None:
        self.run_dir = run_dir
        self.port = free_port()
        self.config_file = run_dir / "prometheus.yml"
        self.log_file = run_dir / "prometheus.log"
        self.targets = targets
        self.scrape_interval_s = scrape_interval_s
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60) -> None:
        """Start the server and wait until it says it is ready."""
        binary = shutil.which("prometheus")
        if binary is None:
            raise PrometheusError("no `prometheus` on PATH: install Debian's prometheus package "
                                  "(`./dev test` does, as root)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_bytes(dumps(scrape_config(self.targets, self.scrape_interval_s)))
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, f"--config.file={self.config_file}",
                 f"--storage.tsdb.path={self.run_dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited {self.proc.returncode}: "
                                      f"{self.log_file.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(
                    self.url + "/-/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.2)
        raise PrometheusError(f"prometheus not ready in {timeout_s:.0f}s")

    def api(self, path: str, **params: str | float) -> Any:
        """GET `/api/v1/<path>` and return its `data`; raise PrometheusError on an error."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as resp:
                body = loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = loads(exc.read())
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Evaluate an instant query (at epoch seconds `at`, default now); return its vector."""
        params: dict[str, str | float] = {"query": expr}
        if at is not None:
            params["time"] = at
        return self.api("query", **params)["result"]

    def stop(self) -> None:
        """Stop the server by its pid (SIGTERM, then SIGKILL)."""
        if self.proc is not None:
            terminate_pid(self.proc.pid, 15)
            self.proc = None

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
