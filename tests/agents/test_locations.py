"""The locations reader's and audit's pure parts: records applied to the directory with
their outcome, and a getmany batch audited with the watchlist audit's machinery. Without a
broker."""

from __future__ import annotations

from types import SimpleNamespace

from aiokafka import TopicPartition

from agents.audit import AuditTrail
from agents.locations import LOCATIONS, apply_location, judge_location, location_record_audit
from agents.metrics import build_metrics
from agents.watchlist_audit import audit_batch
from config.settings import load_settings
from schemas.audit import verify_chain
from schemas.json import dumps, loads
from streams.topics import locations_audit_group
from tables.locations import LocationDirectory

TOPIC = "vigil.locations"


def upsert(location_id: str, *areas: str, **over: object) -> bytes:
    return dumps({"op": "upsert", "location_id": location_id, "kind": "camera",
                  "areas": list(areas), **over})


def record(partition: int, offset: int, key: bytes | None, value: bytes | None):
    return SimpleNamespace(topic=TOPIC, partition=partition, offset=offset, key=key,
                           value=value, timestamp=0)


def test_records_change_the_directory_and_say_what_they_did() -> None:
    directory = LocationDirectory()
    steps = [(b"C-1", upsert("C-1", "old-town")), (b"C-2", upsert("C-2", "old-town", "port")),
             (b"C-1", upsert("C-1", "ring-road")),  # moved to another area
             (b"C-2", dumps({"op": "delete", "location_id": "C-2"})),
             (b"C-3", upsert("C-3", "Bad Area")),  # refused: changes nothing
             (b"C-4", upsert("C-1", "port")),  # key mismatch: changes nothing
             (b"C-5", upsert("C-5")), (b"C-5", None)]  # a tombstone forgets C-5
    outcomes = [apply_location(directory, judge_location(v, k), k) for k, v in steps]
    assert outcomes == ["upsert", "upsert", "upsert", "delete", "rejected", "rejected",
                        "upsert", "tombstone"]
    assert directory.areas_of("C-1") == ("ring-road",)
    assert [directory.areas_of(i) for i in ("C-2", "C-3", "C-5")] == [None, None, None]
    assert len(directory) == 1 and directory.areas_known == 1


def test_a_decoder_failure_is_an_internal_error_not_a_crash(monkeypatch) -> None:
    import agents.locations as module

    def broken(value: bytes, key: bytes | None) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "decode_location_command", broken)
    judged = judge_location(b"{}", b"C-1")
    assert judged.reason == "internal_error" and "boom" in judged.detail


def test_a_batch_is_audited_and_its_refusals_dead_lettered() -> None:
    metrics = build_metrics()
    trail = AuditTrail("AUDIT", metrics.audit_events, 0, "w1")
    batches = {
        TopicPartition(TOPIC, 0): [record(0, 3, b"C-1", upsert("C-1", "old-town", lat=1, lon=2)),
                                   record(0, 4, b"C-2", upsert("C-2", kind="drone")),
                                   record(0, 5, b"C-3", None)],
        TopicPartition(TOPIC, 1): [record(1, 7, b"C-4",
                                          dumps({"op": "delete", "location_id": "C-4"}))],
    }
    out = audit_batch(batches, trail, location_record_audit(load_settings(env={})), 99, "DLQ")
    events = [loads(v) for v in out.values]
    assert [(e["type"], e.get("op"), e.get("location_id"), e.get("reason")) for e in events] == [
        ("location_change", "upsert", "C-1", None),
        ("request_refused", None, None, "bad_kind"),
        ("location_change", "tombstone", "C-3", None),
        ("location_change", "delete", "C-4", None)]
    assert events[0]["after"] == {"kind": "camera", "areas": ["old-town"], "lat": 1.0,
                                  "lon": 2.0, "name": None}
    assert events[1]["source"] == {"topic": TOPIC, "partition": 0, "offset": 4}
    assert out.rejected == {"bad_kind": 1}
    [dead] = out.dead_letters
    letter = loads(dead.value)
    assert (dead.topic, letter["reason"], letter["offset"]) == ("DLQ", "bad_kind", 4)
    assert out.offsets == {TopicPartition(TOPIC, 0): 6, TopicPartition(TOPIC, 1): 8}
    assert verify_chain([(str(i), e) for i, e in enumerate(events)]).fault is None


def test_the_locations_audit_has_a_group_of_its_own() -> None:
    settings = load_settings(env={"VIGIL_KAFKA_TOPIC_PREFIX": "p."})
    assert LOCATIONS.short == "locations"
    assert LOCATIONS.group(settings) == locations_audit_group(settings) == "p.vigil-locations-audit"
