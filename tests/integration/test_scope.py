"""Scoped entries through the real broker and a real worker (contract v1.1, "Entry scope"):
places (a camera, an area that a location joins and leaves while the worker runs), hours
in a zone without and one with daylight saving, every bad scope rule refused with its own
reason and never applied, and out-of-scope key matches counted.

One worker serves every case. Each case sends its records as one JSON array, so they are
matched in one batch, and ends the array with a record that must hit: once that hit is on
`vigil.hits`, every hit of the batch is (the hits of one entry go to one partition, in
record order), and so is the out-of-scope count (counted before the batch's hits are sent).

Hours are checked against the record's `ts` (observed time), so the cases choose their
instants explicitly, in the past; expiry is checked against the worker's clock, so the
entries expire 30 days from now.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtest.harness.deployment import Deployment
from schemas.clock import now_ms
from schemas.json import loads
from tests.integration.test_end_to_end import add_entry, upsert

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
CAM_PLATE, AREA_PLATE = "京A00001", "京A00002"
SHANGHAI_MAC, BERLIN_MAC = "5c0000000001", "5c0000000002"
ENTRIES = [
    upsert("W-CAM", subject_type="plate", key=CAM_PLATE, list="stolen-vehicles",
           scope={"locations": ["C-CAM1"]}),
    upsert("W-AREA", subject_type="plate", key=AREA_PLATE, match="ocr-tolerant",
           list="stolen-vehicles", scope={"areas": ["old-town"]}),
    upsert("W-SHANGHAI", key=SHANGHAI_MAC, scope={
        "hours": [{"days": "mon-fri", "from": "09:00", "to": "17:00"},
                  {"days": "fri", "from": "22:00", "to": "02:00"}], "tz": "Asia/Shanghai"}),
    upsert("W-BERLIN", key=BERLIN_MAC, scope={
        "hours": [{"days": "mon-sun", "from": "08:00", "to": "09:00"},
                  {"days": "sun", "from": "02:00", "to": "03:00"}], "tz": "Europe/Berlin"}),
]
LOCATIONS = [("C-OLD", ["old-town"]), ("C-RING", ["ring-road"]), ("C-CAM1", []),
             ("C-CAM2", [])]


@pytest.fixture(scope="module")
def deployment(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(bootstrap, tmp_path_factory.mktemp("scope"))
    try:
        for location_id, areas in LOCATIONS:
            d.send("locations", {"op": "upsert", "location_id": location_id, "kind": "camera",
                                 "areas": areas}, key=location_id)
        for command in ENTRIES:
            d.send("watchlist", command, key=command["entry_id"])
        d.start_worker()
        yield d
    finally:
        d.close()


def metric(d: Deployment, name: str, **labels: str) -> float:
    """Return the worker's sample `name` with `labels` (0 when it has none yet)."""
    for family in text_string_to_metric_families(d.http_text("/metrics")):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def out_of_scope(d: Deployment, source: str) -> float:
    return metric(d, "vigil_out_of_scope_matches_total", source=source)


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def hits_through(d: Deployment, entry_id: str, last_ts: int) -> list[tuple[str, int]]:
    """Wait for `entry_id`'s hit of the record observed at `last_ts`; return (location,
    observed ts) of every hit of `entry_id` so far, in topic order."""
    values = d.read_until("hits", lambda vs: any(
        v["entry_id"] == entry_id and v["observed_ts"] == last_ts for v in vs), timeout_s=15)
    return [(v["location_id"], v["observed_ts"]) for v in values if v["entry_id"] == entry_id]


def plate_read(camera_id: str, ts: int, plate: str) -> dict:
    return {"camera_id": camera_id, "ts": ts, "plate": plate, "confidence": 0.9}


def sighting(sensor_id: str, ts: int, mac: str) -> dict:
    return {"sensor_id": sensor_id, "ts": ts, "id_type": "mac", "device_id": mac, "rssi": -60}


def local_ms(text: str, tz: str) -> int:
    """Return epoch ms of a wall-clock time (`2026-12-02T09:00`) in zone `tz`."""
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def utc_ms(text: str) -> int:
    return local_ms(text, "UTC")


def test_an_entry_scoped_to_a_camera_hits_there_and_not_at_another(
        deployment: Deployment) -> None:
    t = now_ms() - HOUR_MS
    before = out_of_scope(deployment, "plate")
    deployment.send("plates", [plate_read("C-CAM2", t, CAM_PLATE),
                               plate_read("C-CAM1", t + 1, CAM_PLATE)], key="C-CAM2")
    assert hits_through(deployment, "W-CAM", t + 1) == [("C-CAM1", t + 1)]
    assert out_of_scope(deployment, "plate") == before + 1


def test_an_area_scoped_entry_follows_its_locations_in_and_out_of_the_area(
        deployment: Deployment) -> None:
    d = deployment
    t = now_ms() - HOUR_MS
    ocr_read = "京AOO0O2"  # the entry is OCR-tolerant: O reads as 0
    before = out_of_scope(d, "plate")
    d.send("plates", [plate_read("C-RING", t, ocr_read), plate_read("C-OLD", t + 1, ocr_read)],
           key="C-RING")
    assert hits_through(d, "W-AREA", t + 1) == [("C-OLD", t + 1)]
    assert out_of_scope(d, "plate") == before + 1

    def move_ring(areas: list[str]) -> None:
        """Put C-RING in `areas` and wait until the worker has read it; the entry is
        not sent again."""
        upserts = metric(d, "vigil_location_commands_total", outcome="upsert")
        d.send("locations", {"op": "upsert", "location_id": "C-RING", "kind": "camera",
                             "areas": areas}, key="C-RING")
        wait_for("location command applied", lambda: metric(
            d, "vigil_location_commands_total", outcome="upsert") == upserts + 1)

    move_ring(["ring-road", "old-town"])
    d.send("plates", [plate_read("C-RING", t + 2, ocr_read)], key="C-RING")
    assert hits_through(d, "W-AREA", t + 2) == [("C-OLD", t + 1), ("C-RING", t + 2)]
    assert out_of_scope(d, "plate") == before + 1

    # Out of the area again: out of scope again. Ten minutes on, so that neither location's
    # last hit would suppress a hit (alerts.suppress_seconds, 300).
    move_ring(["ring-road"])
    later = t + 10 * 60_000
    d.send("plates", [plate_read("C-RING", later, ocr_read),
                      plate_read("C-OLD", later + 1, ocr_read)], key="C-RING")
    assert hits_through(d, "W-AREA", later + 1) == [
        ("C-OLD", t + 1), ("C-RING", t + 2), ("C-OLD", later + 1)]
    assert out_of_scope(d, "plate") == before + 2


def check_hours(d: Deployment, entry_id: str, mac: str, cases: list[tuple[int, bool]]) -> None:
    """Sight `mac` at each instant of `cases` (the last one in scope), in one batch; assert
    that exactly the ones marked in scope hit and the others are counted out of scope."""
    sensor = f"S-{entry_id}"
    assert cases[-1][1], "the batch must end with a record that hits"
    before = out_of_scope(d, "sensing")
    d.send("sensing", [sighting(sensor, ts, mac) for ts, _ in cases], key=sensor)
    assert hits_through(d, entry_id, cases[-1][0]) == [
        (sensor, ts) for ts, in_scope in cases if in_scope]
    assert out_of_scope(d, "sensing") == before + sum(not hit for _, hit in cases)


def test_hours_in_shanghai(deployment: Deployment) -> None:
    # Mon-fri 09:00-17:00 and fri 22:00-02:00, Asia/Shanghai (UTC+8 all year). 2026-12-02 is
    # a Wednesday, 12-04 a Friday.
    def shanghai(text: str) -> int:
        return local_ms(text, "Asia/Shanghai")

    check_hours(deployment, "W-SHANGHAI", SHANGHAI_MAC, [
        (shanghai("2026-12-02T08:59"), False),
        (shanghai("2026-12-02T09:00"), True),  # the start is in the window (01:00 UTC)
        (shanghai("2026-12-02T16:59"), True),
        (shanghai("2026-12-02T17:00"), False),  # the end is not
        (shanghai("2026-12-05T10:00"), False),  # Saturday
        (shanghai("2026-12-04T23:00"), True),
        (shanghai("2026-12-05T01:30"), True),  # Saturday morning: Friday night's window
        (shanghai("2026-12-06T01:30"), False),  # Sunday morning: Saturday has no window
        (shanghai("2026-12-07T09:30"), True),
    ])


def test_hours_in_berlin_follow_daylight_saving(deployment: Deployment) -> None:
    # Daily 08:00-09:00 and sun 02:00-03:00, Europe/Berlin: UTC+1 in winter, UTC+2 in summer;
    # 2026-03-29 02:00 CET skips to 03:00 CEST, 2026-10-25 03:00 CEST falls back to 02:00 CET.
    check_hours(deployment, "W-BERLIN", BERLIN_MAC, [
        (utc_ms("2026-01-14T07:30"), True),  # 08:30 CET
        (utc_ms("2026-01-14T06:30"), False),  # 07:30 CET
        (utc_ms("2026-07-14T07:30"), False),  # 09:30 CEST: the same UTC time, out in summer
        (utc_ms("2026-03-29T00:30"), False),  # 01:30 CET
        (utc_ms("2026-03-29T01:30"), False),  # 03:30 CEST: 02:00-03:00 never came that day
        (utc_ms("2026-10-25T00:30"), True),  # 02:30 CEST
        (utc_ms("2026-10-25T01:30"), True),  # 02:30 CET, the same wall-clock hour again
        (utc_ms("2026-10-25T02:30"), False),  # 03:30 CET
        (utc_ms("2026-07-14T06:30"), True),  # 08:30 CEST
    ])


# Each scope that breaks a rule, and the reason it is refused with (docs/operating.md).
BAD_SCOPES = [
    ("bad_scope", {"hour": [{"days": "mon", "from": "08:00", "to": "09:00"}]}),
    ("bad_scope_location", {"locations": []}),
    ("bad_scope_area", {"areas": ["Old Town"]}),
    ("bad_scope_hours", {"hours": [{"days": "mon", "from": "08:00", "to": "08:00"}]}),
    ("bad_scope_days", {"hours": [{"days": "mon-fry", "from": "08:00", "to": "09:00"}]}),
    ("bad_scope_time", {"hours": [{"days": "mon", "from": "8:00", "to": "09:00"}]}),
    ("bad_scope_tz", {"areas": ["old-town"], "tz": "Mars/Olympus_Mons"}),
    ("scope_too_large", {"locations": [f"C-{i}" for i in range(1001)]}),
]


def test_each_bad_scope_is_refused_with_its_reason_and_never_applied(
        deployment: Deployment) -> None:
    d = deployment
    keys = {f"W-BAD-{i}": f"5c00000000b{i}" for i in range(len(BAD_SCOPES))}
    entries = d.watchlist_entries()
    for (entry_id, key), (_, scope) in zip(keys.items(), BAD_SCOPES, strict=True):
        d.send("watchlist", upsert(entry_id, key=key, scope=scope), key=entry_id)

    watchlist = d.topics.watchlist
    dead = [v for v in d.read_until("deadletter", lambda vs: sum(
        v["source_topic"] == watchlist for v in vs) >= len(BAD_SCOPES), timeout_s=20)
        if v["source_topic"] == watchlist]
    refused = {loads(base64.b64decode(v["value_b64"]))["entry_id"]: v["reason"] for v in dead}
    assert refused == {e: reason for e, (reason, _) in zip(keys, BAD_SCOPES, strict=True)}
    assert all(v["detail"] for v in dead)
    audit = [e for e in d.read_until("audit", lambda vs: sum(
        e["type"] == "request_refused" and e["source"]["topic"] == watchlist
        for e in vs) >= len(BAD_SCOPES), timeout_s=20)
        if e["type"] == "request_refused"]
    assert {(e["source"]["partition"], e["source"]["offset"]): e["reason"] for e in audit} == {
        (v["partition"], v["offset"]): v["reason"] for v in dead}

    # None is in the index: a good command after them is the only one added, and sightings
    # of the refused entries' keys hit nothing and count nothing.
    add_entry(d, upsert("W-GOOD", key="5c00000000bf"))
    assert d.watchlist_entries() == entries + 1
    before = out_of_scope(d, "sensing")
    t = now_ms()
    d.send("sensing", [sighting("S-BAD-SCOPE", t, key) for key in keys.values()]
           + [sighting("S-BAD-SCOPE", t, "5c00000000bf")], key="S-BAD-SCOPE")
    values = d.read_until("hits", lambda vs: any(v["entry_id"] == "W-GOOD" for v in vs))
    assert [v["entry_id"] for v in values if v["location_id"] == "S-BAD-SCOPE"] == ["W-GOOD"]
    assert out_of_scope(d, "sensing") == before
