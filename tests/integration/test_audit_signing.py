"""Signed audit checkpoints through the broker: a worker with a signing key writes them,
`vigil audit verify --public-key` passes the topic, and a rewrite that a writer without the
key can make (an event edited, the chain recomputed; a checkpoint under another key) is
reported."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from loadtest.harness.deployment import Deployment
from schemas.audit import AuditChain
from schemas.audit_signing import CHECKPOINT_TYPE, CheckpointSigner, load_private_key
from schemas.json import dumps

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
COMMANDS = 12
EVERY = 5


def upsert(n: int) -> dict:
    return {"op": "upsert", "entry_id": f"W-SIG-{n}", "list": "wanted-persons",
            "subject_type": "device", "id_type": "mac", "key": f"b0000000{n:04x}",
            "priority": 2, "legal_basis": "case 20", "requested_by": "unit-20",
            "expires_at": time.time_ns() // 1_000_000 + 30 * DAY_MS}


def all_signed(values: list[dict]) -> bool:
    """True once every command is audited and the chain's newest event is a checkpoint."""
    changes = sum(v.get("type") == "watchlist_change" for v in values)
    newest = max(values, key=lambda v: v["seq"], default=None)
    return changes >= COMMANDS and newest is not None and newest["type"] == CHECKPOINT_TYPE


def run_verify(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "cli.main", "audit", "verify", *args],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def keygen(out: Path) -> CheckpointSigner:
    done = subprocess.run([sys.executable, "-m", "cli.main", "audit", "keygen", "--out",
                           str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return CheckpointSigner(load_private_key(out.read_bytes()))


def test_a_signing_worker_writes_checkpoints_that_verify_and_show_a_rewrite(
        deployment_factory: Callable[..., Deployment], tmp_path: Path) -> None:
    key, other_key = tmp_path / "audit.pem", tmp_path / "other.pem"
    signer, other = keygen(key), keygen(other_key)
    pub = f"{key}.pub"
    d = deployment_factory(audit_signing_key_file=str(key),
                           audit_checkpoint_every_events=str(EVERY),
                           audit_checkpoint_every_s="2")
    d.start_worker()
    for n in range(COMMANDS):  # at once, so that the timer does not split them
        d.producer.send(d.topics.watchlist, value=dumps(upsert(n)), key=f"W-SIG-{n}".encode())
    d.producer.flush()
    values = d.read_until("audit", all_signed, timeout_s=30)
    assert all_signed(values), values
    ordered = sorted(values, key=lambda v: v["seq"])
    assert [v["seq"] for v in ordered] == list(range(len(values)))
    checkpoints = [v for v in ordered if v["type"] == CHECKPOINT_TYPE]
    assert {c["key_id"] for c in checkpoints} == {signer.key_id}
    # One after every EVERY events at the latest (the timer's may come in between).
    runs, run = [], 0
    for v in ordered:
        if v["type"] == CHECKPOINT_TYPE:
            runs.append(run)
            run = 0
        else:
            run += 1
    assert sum(runs) == COMMANDS and max(runs) <= EVERY, runs
    producer, newest = ordered[0]["producer"], checkpoints[-1]["count"]

    env = d.settings.as_env()
    code, out = run_verify(env, "--public-key", pub, "--expect-metrics", d.base_url + "/metrics")
    assert code == 0, out
    assert f"signed: producer {producer}: {len(values)} events, {len(checkpoints)} checkpoints " \
           f"verify, seq 0..{newest - 1} proven" in out
    # The worker exports the newest checkpoint's count (once it has the broker's ack).
    sample = f'vigil_audit_checkpoint_events{{producer="{producer}"}} {float(newest)}'
    deadline = time.monotonic() + 10
    while sample not in d.http_text("/metrics"):
        assert time.monotonic() < deadline, d.http_text("/metrics")
        time.sleep(0.2)
    # Only with the key of the checkpoints.
    code, out = run_verify(env, "--public-key", f"{other_key}.pub")
    assert code == 1 and f"signed with key id '{signer.key_id}'" in out

    # A copy with its first event edited and the chain recomputed: the hash chain passes
    # it, the first checkpoint does not.
    bodies = [{k: v for k, v in e.items() if k not in ("seq", "prev_hash", "hash")}
              for e in ordered]
    edited = [{**bodies[0], "requested_by": "someone-else"}, *bodies[1:]]
    forged_chain = AuditChain(producer)
    forged = tmp_path / "forged.jsonl"
    forged.write_bytes(b"".join(dumps(forged_chain.seal(b)) + b"\n" for b in edited))
    code, out = run_verify(env, "--file", str(forged))
    assert code == 0, out
    code, out = run_verify(env, "--file", str(forged), "--public-key", pub)
    first = checkpoints[0]
    assert code == 1 and (
        f"{forged}:{first['seq'] + 1}: events seq 0..{first['covers_seq']} of {producer} "
        f"({forged}:1 to {forged}:{first['seq']}) were rewritten after they were signed") in out

    # Appended to the topic by a writer without the key: an event continuing the chain is
    # not signed (and reported so), a checkpoint under another key is a fault.
    tail = AuditChain(producer)
    for body in bodies:
        tail.seal(body)  # the same contents: the same chain, up to its head
    d.send("audit", tail.seal({"type": "ack", "at": 1, "subscriber": "x", "hit_id": "h-x"}))
    code, out = run_verify(env, "--public-key", pub)
    assert code == 0 and "the 1 newer events are not signed yet" in out, out
    d.send("audit", other.seal_checkpoint(tail, 2))
    code, out = run_verify(env, "--public-key", pub)
    assert code == 1 and f"signed with key id '{other.key_id}', not one of the public keys" \
        in out, out
