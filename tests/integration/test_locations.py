"""Locations through the real broker: loaded from a CSV by `vigil locations load`, read whole
before the worker says it is ready, moved between areas live, and a bad command
dead-lettered and audited once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtest.harness.deployment import Deployment
from loadtest.harness.probes import wait_committed
from schemas.json import loads
from streams.topics import locations_audit_group

pytestmark = pytest.mark.integration

LOCATIONS = 20_000  # written by the CLI in large batches: ListOffsets is thousands short
SOLO = "S-019999"  # the one location of area `solo`


def gauges(d: Deployment) -> dict[str, float]:
    """Return the worker's location metrics (counters by outcome, gauges) by name."""
    out = {}
    for family in text_string_to_metric_families(d.http_text("/metrics")):
        for s in family.samples:
            if s.name.startswith(("vigil_location", "vigil_locations")):
                out[s.name + "".join(f"/{v}" for v in s.labels.values())] = s.value
    return out


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_locations_from_a_csv_are_read_before_ready_and_follow_updates(
        deployment_factory: Callable[..., Deployment], tmp_path: Path) -> None:
    d = deployment_factory()
    csv = tmp_path / "locations.csv"
    rows = [f"S-{i:06d},sensor,district-{i % 50};grid-{i % 7},37.5,122.1,Mast {i}"
            for i in range(LOCATIONS - 1)]
    rows.append(f"{SOLO},sensor,solo,,,")
    csv.write_bytes(b"\xef\xbb\xbf" + "\n".join(["location_id,kind,areas,lat,lon,name", *rows,
                                                "S-BAD,sensor,Not A Name,,,"]).encode())
    loaded = subprocess.run([sys.executable, "-m", "cli.main", "locations", "load", str(csv)],
                            env={**os.environ, **d.settings.as_env()}, capture_output=True,
                            timeout=120)
    assert loaded.returncode == 1, loaded.stderr  # the last line is refused, not sent
    assert f"{csv}:{LOCATIONS + 2}: refused: bad_area" in loaded.stderr.decode()
    assert f"{LOCATIONS} commands sent" in loaded.stdout.decode()

    d.start_worker()
    ready = loads(d.http_text("/readyz"))
    assert (ready["ready"], ready["locations_loaded"], ready["locations"]) == (
        True, True, LOCATIONS)
    assert re.search(rf"locations loaded: {LOCATIONS} locations in 58 areas", d.log_tail(400))
    assert gauges(d)["vigil_location_areas_known"] == 50 + 7 + 1

    # The only location of `solo` moves to an area of its own: `solo` is left empty, and
    # the directory counts `harbour` instead.
    d.send("locations", {"op": "upsert", "location_id": SOLO, "kind": "sensor",
                         "areas": ["harbour", "district-1"]}, key=SOLO)
    wait_for("move applied",
             lambda: gauges(d)["vigil_location_commands_total/upsert"] == LOCATIONS + 1)
    assert gauges(d)["vigil_location_areas_known"] == 58
    d.send("locations", {"op": "delete", "location_id": SOLO}, key=SOLO)
    wait_for("delete applied", lambda: gauges(d)["vigil_location_areas_known"] == 57)
    assert loads(d.http_text("/readyz"))["locations"] == LOCATIONS - 1

    # A command that breaks a rule changes nothing, is dead-lettered and audited once.
    bad = {"op": "upsert", "location_id": "C-9", "kind": "drone", "areas": []}
    d.send("locations", bad, key="C-9")
    wait_for("refusal counted",
             lambda: gauges(d).get("vigil_location_commands_total/rejected") == 1)
    assert loads(d.http_text("/readyz"))["locations"] == LOCATIONS - 1
    topic = d.topics.locations
    dead = d.read_until("deadletter", lambda vs: any(v["source_topic"] == topic for v in vs))
    assert [(v["reason"], v["source_topic"]) for v in dead] == [("bad_kind", topic)]

    total = LOCATIONS + 3  # the load, the move, the delete, the refused command
    audit = d.read_until("audit", lambda vs: sum(
        e.get("source", {}).get("topic") == topic for e in vs) >= total, timeout_s=30)
    mine = [e for e in audit if e.get("source", {}).get("topic") == topic]
    offsets = Counter((e["source"]["partition"], e["source"]["offset"]) for e in mine)
    assert len(mine) == total and set(offsets.values()) == {1}, "a command audited twice"
    assert Counter((e["type"], e.get("op"), e.get("reason")) for e in mine) == {
        ("location_change", "upsert", None): LOCATIONS + 1,
        ("location_change", "delete", None): 1,
        ("request_refused", None, "bad_kind"): 1}
    move = next(e for e in mine if e.get("after", {}).get("areas") == ["harbour", "district-1"])
    assert move["location_id"] == SOLO
    # Committed by the audit group, so a restart does not audit them again.
    ends: dict[int, int] = {}
    for partition, offset in offsets:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    wait_committed(d.bootstrap, locations_audit_group(d.settings), topic, ends, d.settings,
                   timeout_s=30)
