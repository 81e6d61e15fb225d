"""A bulk watchlist load on two workers: every command audited exactly once, by the worker
whose watchlist audit consumer owns its partition, each refusal dead-lettered, the chains
intact; the audit group commits the load's end only once the broker has it all."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from collections.abc import Callable

import pytest
from kafka import KafkaProducer

from loadtest.harness.deployment import Deployment
from loadtest.harness.probes import wait_committed, worker_counters
from schemas.audit import verify_chain
from schemas.json import dumps
from streams.topics import watchlist_audit_group
from tests.integration.test_end_to_end import upsert

pytestmark = pytest.mark.integration

COMMANDS = 6_000
REFUSED_EVERY = 100  # every 100th command lacks its legal basis


def wait_shared(d: Deployment, timeout_s: float = 30) -> None:
    """Wait until each worker's log says its watchlist audit consumer got one partition."""
    logs = [d.log_path, d.run_dir / "worker-2.log"]
    deadline = time.monotonic() + timeout_s
    while True:
        last = [re.findall(r"watchlist audit partitions assigned: (\[.*?\])", p.read_text())
                for p in logs]
        if all(found and found[-1] in ("[0]", "[1]") for found in last):
            return
        assert time.monotonic() < deadline, f"audit partitions not shared: {last}"
        time.sleep(0.2)


def test_a_bulk_load_on_two_workers_is_audited_exactly_once(
        deployment_factory: Callable[..., Deployment]) -> None:
    d = deployment_factory()
    group = watchlist_audit_group(d.settings)
    d.start_worker()
    d.add_worker()
    wait_shared(d)

    producer = KafkaProducer(bootstrap_servers=d.bootstrap, acks="all", linger_ms=200,
                             batch_size=1 << 20, max_request_size=16 << 20)
    commands = []
    for i in range(COMMANDS):
        entry = f"W-{i:05d}"
        command = upsert(entry, key=f"02:00:00:01:{i >> 8:02X}:{i & 255:02X}")
        if i % REFUSED_EVERY == 0:
            del command["legal_basis"]
        commands.append((entry, command))
    futures = [producer.send(d.topics.watchlist, dumps(c), key=e.encode()) for e, c in commands]
    futures.append(producer.send(d.topics.watchlist, None, key=b"W-00001"))  # a tombstone
    producer.flush()
    ends: dict[int, int] = {}
    for f in futures:
        meta = f.get(timeout=30)
        ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    producer.close()
    assert len(ends) == 2  # both partitions, so both workers, have a share
    wait_committed(d.bootstrap, group, d.topics.watchlist, ends, d.settings, timeout_s=60)

    # Committed means the broker has the audit: every event is there already.
    audit = d.read_until("audit", lambda vs: len(vs) >= COMMANDS + 1, timeout_s=20)
    mine = [e for e in audit if e.get("source", {}).get("topic") == d.topics.watchlist]
    audited = Counter((e["source"]["partition"], e["source"]["offset"]) for e in mine)
    assert sum(audited.values()) == COMMANDS + 1, "a command audited twice or never"
    assert set(audited.values()) == {1}
    assert audited.keys() == {(p, o) for p, end in ends.items() for o in range(end)}
    kinds = Counter((e["type"], e.get("op"), e.get("reason")) for e in mine)
    refused = COMMANDS // REFUSED_EVERY
    assert kinds == {("watchlist_change", "upsert", None): COMMANDS - refused,
                     ("request_refused", None, "no_legal_basis"): refused,
                     ("watchlist_change", "tombstone", None): 1}
    # Each worker audited the partition its audit consumer owns, in its own chain.
    by_partition = {p: {e["producer"] for e in mine if e["source"]["partition"] == p}
                    for p in ends}
    assert all(len(producers) == 1 for producers in by_partition.values())
    assert len(set.union(*by_partition.values())) == 2
    assert verify_chain([(str(i), e) for i, e in enumerate(audit)]).fault is None

    dead = d.read_until("deadletter", lambda vs: len(vs) >= refused, timeout_s=10)
    assert sorted((v["partition"], v["offset"]) for v in dead
                  if v["reason"] == "no_legal_basis") == sorted(
        (e["source"]["partition"], e["source"]["offset"]) for e in mine
        if e["type"] == "request_refused")
    assert d.watchlist_entries() == COMMANDS - refused - 1


def audit_children(d: Deployment) -> list[int]:
    """Return the pids of the watchlist audit children the worker's log says it started."""
    return [int(pid) for pid in
            re.findall(r"watchlist audit child started: pid (\d+)", d.log_path.read_text())]


def running(pid: int) -> bool:
    """Whether `pid` runs (a zombie, ended but not reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_the_audit_child_reports_through_its_worker_is_restarted_and_ends_with_it(
        deployment_factory: Callable[..., Deployment]) -> None:
    d = deployment_factory()
    d.start_worker()
    [child] = audit_children(d)
    refused = upsert("W-CHILD-1", key="02:00:00:09:00:01")
    del refused["legal_basis"]
    d.send("watchlist", refused, key="W-CHILD-1")
    # The child's counters are the worker's: Prometheus scrapes only the worker.
    wait_for(lambda: worker_counters(d.base_url).get("rejected/watchlist") == 1,
             "the child's refusal not counted on the worker's /metrics")

    os.kill(child, signal.SIGKILL)  # a crashed child is started again; the audit goes on
    wait_for(lambda: len(audit_children(d)) == 2, "no new audit child")
    d.send("watchlist", upsert("W-CHILD-2", key="02:00:00:09:00:02"), key="W-CHILD-2")
    audit = d.read_until("audit", lambda vs: any(v.get("entry_id") == "W-CHILD-2" for v in vs),
                         timeout_s=30)
    [event] = [v for v in audit if v.get("entry_id") == "W-CHILD-2"]
    assert event["op"] == "upsert"

    second = audit_children(d)[-1]
    d.kill_worker()  # a killed worker's child sees its stdin end and stops
    wait_for(lambda: not running(second), "the audit child outlived its killed worker", 5)
