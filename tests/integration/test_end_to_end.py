"""One worker on the real broker: watchlist in, records in, hits and dead letters out."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator

import pytest

from loadtest.harness.deployment import Deployment
from schemas.hits import make_hit_id
from schemas.sensing import SENSING_CONTENT_TYPE, encode_sensing_batch

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def upsert(entry_id: str, **fields: object) -> dict:
    """Return a valid upsert command; `fields` override the defaults."""
    return {"op": "upsert", "entry_id": entry_id, "list": "wanted-persons",
            "subject_type": "device", "id_type": "mac", "priority": 1,
            "legal_basis": "case 2026-0417", "requested_by": "unit-17",
            "expires_at": now_ms() + 30 * DAY_MS, **fields}


def sighting(device_id: str, ts: int, sensor: str = "S-000123", id_type: str = "mac") -> dict:
    return {"sensor_id": sensor, "ts": ts, "id_type": id_type, "device_id": device_id, "rssi": -60}


def hits_for(d: Deployment, entry_id: str, count: int = 1, timeout_s: float = 10,
             observed_ts: int | None = None) -> list[dict]:
    """Wait for at least `count` hits of `entry_id` (of records observed at `observed_ts`,
    when given, so that hits of earlier tests do not end the wait); return those hits."""
    def mine(v: dict) -> bool:
        return v["entry_id"] == entry_id and observed_ts in (None, v["observed_ts"])

    values = d.read_until("hits", lambda vs: sum(map(mine, vs)) >= count, timeout_s)
    return [v for v in values if mine(v)]


def add_entry(d: Deployment, command: dict, timeout_s: float = 10) -> None:
    """Send a new entry and wait until the worker's index holds it (records sent after
    that are matched against it; before, the reader and the agents race)."""
    before = d.watchlist_entries()
    d.send("watchlist", command, key=command["entry_id"])
    deadline = time.monotonic() + timeout_s
    while d.watchlist_entries() != before + 1:
        assert time.monotonic() < deadline, "entry not applied"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def deployment(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(bootstrap, tmp_path_factory.mktemp("e2e"))
    try:
        d.send("watchlist", upsert("W-MAC", key="A4:5E:60:D1:22:9F"), key="W-MAC")
        ready_s = d.start_worker()
        assert ready_s < 30, f"worker took {ready_s:.1f}s to be ready"
        yield d
    finally:
        d.close()


def test_matching_sighting_gives_a_hit_with_every_contract_field(deployment: Deployment) -> None:
    ts = now_ms()
    before = now_ms()
    deployment.send("sensing", sighting("a4-5e-60-d1-22-9f", ts), key="S-000123")
    (hit,) = hits_for(deployment, "W-MAC", observed_ts=ts)
    assert hit == {
        "hit_id": make_hit_id("W-MAC", "sensing", "S-000123", ts),
        "entry_id": "W-MAC", "list": "wanted-persons", "priority": 1, "source": "sensing",
        "location_id": "S-000123", "observed_ts": ts, "detected_ts": hit["detected_ts"],
        "match": "exact", "observed": {"id_type": "mac", "device_id": "a45e60d1229f"},
    }
    assert before <= hit["detected_ts"] <= now_ms()
    assert hit["hit_id"].startswith("h-") and len(hit["hit_id"]) == 18


def test_binary_batch_hit_names_the_sensor_in_contract_form(deployment: Deployment) -> None:
    ts = now_ms()
    batch = encode_sensing_batch([
        {"ts": ts, "sensor_id": 42, "id_type": "mac", "device_id": "0011223344ff"},
        {"ts": ts, "sensor_id": 42, "id_type": "mac", "device_id": "a45e60d1229f"},
    ])
    deployment.send("sensing", batch, headers=[("content-type", SENSING_CONTENT_TYPE.encode())])
    hits = hits_for(deployment, "W-MAC", observed_ts=ts)
    assert [(h["location_id"], h["observed"]["device_id"]) for h in hits] == [
        ("S-000042", "a45e60d1229f")]


def test_non_matching_sighting_gives_no_hit(deployment: Deployment) -> None:
    # Same key, so same partition: once the later marker's hit is out, the first was handled.
    ts = now_ms()
    deployment.send("sensing", sighting("ffffffffffff", ts, sensor="S-NOHIT"), key="S-NOHIT")
    deployment.send("sensing", sighting("a45e60d1229f", ts + 1, sensor="S-NOHIT"), key="S-NOHIT")
    values = deployment.read_until(
        "hits", lambda vs: any(v["location_id"] == "S-NOHIT" for v in vs))
    at_sensor = [v for v in values if v["location_id"] == "S-NOHIT"]
    assert [(v["entry_id"], v["observed_ts"]) for v in at_sensor] == [("W-MAC", ts + 1)]


def test_malformed_message_is_dead_lettered_and_the_worker_goes_on(deployment: Deployment) -> None:
    deployment.send("sensing", b'{"sensor_id": "S-BAD", "ts": 17', key="S-BAD")
    ts = now_ms()
    deployment.send("sensing", sighting("a45e60d1229f", ts, sensor="S-BAD"), key="S-BAD")
    dead = deployment.read_until(
        "deadletter", lambda vs: any(v.get("reason") == "bad_json" for v in vs))
    (letter,) = [v for v in dead if v["reason"] == "bad_json"]
    assert letter["source_topic"] == deployment.topics.sensing
    assert isinstance(letter["partition"], int) and isinstance(letter["offset"], int)
    assert letter["detail"]
    assert base64.b64decode(letter["value_b64"]) == b'{"sensor_id": "S-BAD", "ts": 17'
    assert hits_for(deployment, "W-MAC", observed_ts=ts)


def test_bad_record_in_array_is_rejected_alone(deployment: Deployment) -> None:
    ts = now_ms()
    records = [sighting("not-a-mac", ts, sensor="S-ARR"), sighting("a45e60d1229f", ts,
                                                                   sensor="S-ARR")]
    deployment.send("sensing", records, key="S-ARR")
    dead = deployment.read_until(
        "deadletter", lambda vs: any(v.get("reason") == "bad_device_id" for v in vs))
    (letter,) = [v for v in dead if v["reason"] == "bad_device_id"]
    assert letter["index"] == 0
    assert any(h["location_id"] == "S-ARR" and h["observed_ts"] == ts
               for h in hits_for(deployment, "W-MAC", observed_ts=ts))


def test_command_without_legal_basis_is_dead_lettered_audited_and_not_applied(
        deployment: Deployment) -> None:
    deployment.send("watchlist", upsert("W-NOBASIS", key="010203040506", legal_basis=""),
                    key="W-NOBASIS")
    dead = deployment.read_until(
        "deadletter", lambda vs: any(v.get("reason") == "no_legal_basis" for v in vs))
    assert [v["source_topic"] for v in dead if v["reason"] == "no_legal_basis"] == [
        deployment.topics.watchlist]
    audit = deployment.read_until(
        "audit", lambda vs: any(v.get("reason") == "no_legal_basis" for v in vs))
    assert any(v["type"] == "request_refused" for v in audit if v.get("reason") == "no_legal_basis")
    # Not in the table: a sighting of its key hits nothing, while a later good one still hits.
    ts = now_ms()
    deployment.send("sensing", sighting("010203040506", ts, sensor="S-NB"), key="S-NB")
    deployment.send("sensing", sighting("a45e60d1229f", ts + 1, sensor="S-NB"), key="S-NB")
    values = deployment.read_until("hits", lambda vs: any(v["location_id"] == "S-NB" for v in vs))
    assert [v["entry_id"] for v in values if v["location_id"] == "S-NB"] == ["W-MAC"]


def test_plate_read_hits_through_ocr_confusion(deployment: Deployment) -> None:
    add_entry(deployment, upsert("W-PLATE", subject_type="plate", key="鲁K12345",
                                 match="ocr-tolerant", list="stolen-vehicles", priority=2))
    read = {"camera_id": "C-0042", "ts": now_ms(), "plate": "鲁K·1Z345", "confidence": 0.9}
    deployment.send("plates", read, key="C-0042")
    (hit,) = hits_for(deployment, "W-PLATE")
    assert (hit["source"], hit["location_id"], hit["match"], hit["observed"], hit["priority"]) == (
        "plate", "C-0042", "ocr-tolerant", {"plate": "鲁K·1Z345"}, 2)


def test_checkin_hits_on_document(deployment: Deployment) -> None:
    doc = "11010519491231002X"
    add_entry(deployment, upsert("W-DOC", subject_type="document", id_type=None,
                                 doc_type="national_id", key=doc.lower(),
                                 list="missing-persons", priority=3))
    checkin = {"property_id": "P-7781", "ts": now_ms(), "doc_type": "national_id",
               "doc_number": doc, "name": "x", "birth_date": "1949-12-31"}
    deployment.send("checkins", checkin, key="P-7781")
    (hit,) = hits_for(deployment, "W-DOC")
    assert hit["observed"] == {"doc_type": "national_id", "doc_number": doc}
    assert hit["source"] == "checkin" and hit["location_id"] == "P-7781"


def test_tombstone_removes_the_entry_and_is_audited(deployment: Deployment) -> None:
    add_entry(deployment, upsert("W-TOMB", key="0c0c0c0c0c0c"))
    before = deployment.watchlist_entries()
    deployment.send("watchlist", None, key="W-TOMB")
    audit = deployment.read_until(
        "audit", lambda vs: any(v.get("op") == "tombstone" for v in vs))
    assert [(v["entry_id"], v["requested_by"]) for v in audit if v.get("op") == "tombstone"] == [
        ("W-TOMB", None)]
    deadline = time.monotonic() + 10
    while deployment.watchlist_entries() != before - 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_health_readiness_and_broker_check_metrics(deployment: Deployment, embedded: bool) -> None:
    assert deployment.http_status("/healthz") == 200
    assert deployment.http_status("/readyz") == 200
    ready = json.loads(deployment.http_text("/readyz"))
    assert (ready["ready"], ready["group_joined"], ready["hits_caught_up"],
            ready["kernels_ready"]) == (True, True, True, True)
    metrics = deployment.http_text("/metrics")
    found = re.search(r"^vigil_broker_hwm_counts_batches (\S+)$", metrics, re.M)
    assert found is not None
    flag = found.group(1)
    if embedded:
        assert flag == "1.0"
    assert f"vigil_producer_one_record_per_batch {flag}" in metrics
    assert 'vigil_rejected_total{reason="bad_json",source="sensing"}' in metrics
