"""The command line as a user runs it: load a watchlist, produce records, tail hits; the demo."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from loadtest.harness.deployment import Deployment
from schemas.json import dumps, loads
from streams.broker import EmbeddedBroker, free_port, pid_alive
from tests.integration.test_end_to_end import now_ms, sighting, upsert

pytestmark = pytest.mark.integration


def vigil(env: dict[str, str], *args: str, stdin: bytes | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], input=stdin,
                          env={**os.environ, **env}, capture_output=True, timeout=timeout)


def test_load_produce_and_tail(deployment_factory, tmp_path: Path) -> None:
    d = deployment_factory()
    env = d.settings.as_env()
    entries = tmp_path / "entries.jsonl"
    entries.write_text("\n".join([
        dumps(upsert("W-CLI", key="aa:bb:cc:dd:ee:01")).decode(),
        dumps(upsert("W-NOEXP", key="aabbccddee02", expires_at=None)).decode(),
        "",
    ]))
    loaded = vigil(env, "watchlist", "load", str(entries))
    assert loaded.returncode == 1  # one line refused
    assert f"{entries}:2: refused: no_expiry" in loaded.stderr.decode()
    assert "1 commands sent" in loaded.stdout.decode()

    d.start_worker()
    ts = now_ms()
    rec = sighting("aabbccddee01", ts, sensor="x") | {"sensor_id": 77}
    produced = vigil(env, "produce", "sensing", "--binary", "-", stdin=dumps(rec) + b"\n")
    assert produced.returncode == 0, produced.stderr.decode()

    tailed = vigil(env, "tail", "hits", "--from-beginning", "--max", "1", "--timeout", "20")
    (hit,) = [loads(line) for line in tailed.stdout.splitlines()]
    assert (hit["entry_id"], hit["location_id"], hit["observed_ts"]) == ("W-CLI", "S-000077", ts)


def test_load_csv_sends_what_its_dry_run_prints(deployment_factory, tmp_path: Path) -> None:
    d = deployment_factory()
    env = d.settings.as_env()
    entries = tmp_path / "entries.csv"
    expires = now_ms() + 86_400_000
    entries.write_bytes(b"\xef\xbb\xbf" + "\n".join([
        "op,entry_id,list,subject_type,id_type,key,priority,legal_basis,requested_by,"
        "expires_at,scope_locations,scope_hours,scope_tz",
        f"upsert,W-CSV1,l,device,mac,aa:bb:cc:dd:ee:01,1,case 1,u,{expires},S-000077,"
        "mon-fri 07:00-19:00;sat 22:00-06:00,Europe/Berlin",
        f"upsert,W-CSV2,l,device,mac,aa:bb:cc:dd:ee:02,9,case 1,u,{expires},,,",
        f"upsert,W-CSV3,l,plate,,AB123,3,case 1,u,{expires},,,", ""]).encode())
    dry = vigil(env, "watchlist", "load", str(entries), "--dry-run")
    loaded = vigil(env, "watchlist", "load", str(entries))
    for run in (dry, loaded):
        assert run.returncode == 1, run.stderr.decode()
        assert f"{entries}:3: refused: bad_priority" in run.stderr.decode()
    assert "2 commands sent" in loaded.stdout.decode()
    tailed = vigil(env, "tail", "watchlist", "--from-beginning", "--max", "2", "--timeout", "20")
    sent = sorted(loads(line)["entry_id"] for line in tailed.stdout.splitlines())
    assert sent == ["W-CSV1", "W-CSV3"]
    assert sorted(tailed.stdout.splitlines()) == sorted(dry.stdout.splitlines())


def test_demo_shows_hits_and_stops_what_it_started(embedded: bool, tmp_path: Path) -> None:
    env = {"VIGIL_BROKER_RUN_DIR": str(tmp_path / "run"),
           "VIGIL_WORKER_WEB_PORT": str(free_port()),
           "VIGIL_KAFKA_TOPIC_PREFIX": f"demo{uuid.uuid4().hex[:8]}."}
    if embedded:
        env["VIGIL_BOOTSTRAP"] = ""
    done = vigil(env, "demo", "--duration", "6", timeout=180)
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()
    assert re.search(r"^HIT P[123] ", out, re.M), out
    assert f"http://127.0.0.1:{env['VIGIL_WORKER_WEB_PORT']}/metrics" in out
    assert re.search(r"--config\.file=\S*config/prometheus/prometheus\.yml", out), out
    assert re.search(r"import \S*config/grafana/vigil-dashboard\.json", out), out
    worker_pid = int(re.search(r"worker pid (\d+)", out).group(1))
    assert f"worker {worker_pid} stopped" in out
    assert not pid_alive(worker_pid)
    if embedded:
        broker_pid = int(re.search(r"embedded broker \(Tansu\) pid (\d+)", out).group(1))
        assert "embedded broker stopped" in out
        assert not pid_alive(broker_pid)


def test_the_demo_never_joins_a_running_deployment(embedded: bool, tmp_path: Path) -> None:
    # A deployment on the broker of .run/ (default prefix), then two demos beside it.
    run = tmp_path / "run"
    env = {"VIGIL_BROKER_RUN_DIR": str(run), "VIGIL_WORKER_WEB_PORT": str(free_port())}
    if embedded:
        env["VIGIL_BOOTSTRAP"] = ""
        started = vigil(env, "broker", "start")
        assert started.returncode == 0, started.stderr.decode()
    bootstrap = os.environ.get("VIGIL_BOOTSTRAP") or EmbeddedBroker(run).info().bootstrap
    d = Deployment(bootstrap, run / "main", kafka_topic_prefix="")
    try:
        d.start_worker()
        outs = []
        for _ in range(2):  # the second demo within minutes of the first still shows hits
            done = vigil({**env, "VIGIL_WORKER_WEB_PORT": str(free_port())},
                         "demo", "--duration", "6", timeout=180)
            outs.append(done.stdout.decode())
            assert done.returncode == 0, outs[-1] + done.stderr.decode()
        # The deployment's worker joined its group once: no demo rebalanced it.
        group = f"{d.settings.kafka.topic_prefix}vigil"
        joins = re.findall(r"Joined group '([^']*)'", d.log_path.read_text())
        assert joins.count(group) == 1, joins
        for out in outs:
            assert re.search(r"^HIT P[123] ", out, re.M), out
            assert "under the prefix 'demo-" in out, out
    finally:
        d.close()
        if embedded:
            vigil(env, "broker", "stop")
