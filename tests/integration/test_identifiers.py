"""Hostile identifiers through a real worker and broker (contract v1.1, "Identifiers"): a bad
sensor id is dead-lettered and never hits; a bad entry id is refused on the topic and, URL-
encoded in the path, over HTTP."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from config.subscribers import token_hash
from loadtest.harness.deployment import Deployment
from loadtest.traffic.sightings import mac_entry, mac_sighting
from schemas.json import dumps, loads

pytestmark = pytest.mark.integration

EDITOR_TOKEN = "tok-identifiers-editor"
# The finding's values, and their relatives.
BAD_IDS = ["S\x00-1", "S-1\n", "../../etc/passwd", "S%2F1", "\x1b]0;title\x07", "S-1\x07",
           " S-1", "S-1 ", "S" * 65, "", "S-\u202e1", "S-\u200b1"]
GOOD_IDS = ["S" * 64, "传感器-北门-01"]


@pytest.fixture(scope="module")
def deployment(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run = tmp_path_factory.mktemp("identifiers")
    subs = run / "subscribers.toml"
    subs.write_text(f'[[principal]]\nname = "ed"\ntoken_sha256 = "{token_hash(EDITOR_TOKEN)}"\n'
                    'role = "editor"\nlists = ["wanted-persons"]\nmin_priority = 3\n')
    # Many refusals from one address in a row: no rate limit in the way, audited soon.
    d = Deployment(bootstrap, run, access_subscribers_file=str(subs),
                   access_refusal_burst="1000", access_refusal_audit_interval_s="0.5")
    try:
        d.send("watchlist", mac_entry("W-ID"), key="W-ID")
        d.start_worker()
        yield d
    finally:
        d.close()


def rejected_values(dead: list[dict], topic: str) -> list[tuple[str, int | None, bytes]]:
    return [(v["reason"], v.get("index"), base64.b64decode(v["value_b64"])) for v in dead
            if v["source_topic"] == topic]


def test_bad_sensor_ids_are_dead_lettered_and_never_hit(deployment: Deployment) -> None:
    d = deployment
    for sensor in BAD_IDS:
        d.send("sensing", mac_sighting(sensor), key="L-1")
    # In an array the bad record goes alone, by its index; the others are matched.
    d.send("sensing", [mac_sighting(GOOD_IDS[0]), mac_sighting("S-2\x1b[2J"),
                       mac_sighting(GOOD_IDS[1])], key="L-1")
    # One partition, in order: once the last message's hits are out, every one was judged.
    hits = d.read_until("hits", lambda vs: {v["location_id"] for v in vs} >= set(GOOD_IDS),
                        timeout_s=60)
    assert {v["location_id"] for v in hits} >= set(GOOD_IDS), d.log_tail()
    want = len(BAD_IDS) + 1
    dead = d.read_until("deadletter", lambda vs: len(rejected_values(vs, d.topics.sensing))
                        >= want, timeout_s=30)
    # Batches in flight at once write their dead letters in any order.
    got = sorted(rejected_values(dead, d.topics.sensing), key=lambda t: (t[1] or 0, t[2]))
    assert [(reason, index) for reason, index, _ in got] == (
        [("bad_sensor_id", None)] * len(BAD_IDS) + [("bad_sensor_id", 1)])
    assert sorted(loads(value)["sensor_id"] for _, _, value in got[:-1]) == sorted(BAD_IDS)
    assert loads(got[-1][2])[1]["sensor_id"] == "S-2\x1b[2J"
    time.sleep(1)  # a late hit would show now
    hits = d.read_until("hits", lambda vs: False, timeout_s=2)
    assert not [v for v in hits if v["location_id"] not in GOOD_IDS]


def put(d: Deployment, path_id: str, body: dict) -> tuple[int, dict]:
    """PUT `body` to /v1/watchlist/<path_id>, path_id already URL-encoded."""
    req = urllib.request.Request(f"{d.base_url}/v1/watchlist/{path_id}", method="PUT",
                                 data=dumps(body))
    req.add_header("Authorization", f"Bearer {EDITOR_TOKEN}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, loads(exc.read())


def test_an_editors_put_with_a_bad_entry_id_gets_400_and_is_audited(
        deployment: Deployment) -> None:
    d = deployment
    body = {k: v for k, v in mac_entry("unused", key="a00000000042").items()
            if k not in ("op", "entry_id")}
    # Every finding's value URL-encoded (the empty one names no entry: another route), and
    # `%2F` sent as is, which the server decodes to `/`.
    paths = [urllib.parse.quote(e, safe="") for e in BAD_IDS if e] + ["W%2F1", "..%2F..%2Fx"]
    before = d.watchlist_entries()
    for path_id in paths:
        status, answer = put(d, path_id, body)
        assert (status, answer.get("error")) == (400, "bad_entry_id"), (path_id, answer)
    status, answer = put(d, urllib.parse.quote("案件-17 <b>", safe=""), body)
    assert status == 202, answer
    deadline = time.monotonic() + 15
    while d.watchlist_entries() != before + 1:  # the good one only
        assert time.monotonic() < deadline, "the valid PUT was not applied"
        time.sleep(0.1)
    audit = d.read_until("audit", lambda vs: any(
        v.get("channel") == "http" and v.get("reason") == "bad_entry_id" for v in vs),
        timeout_s=15)
    assert any(v.get("channel") == "http" and v.get("reason") == "bad_entry_id"
               for v in audit), audit[-5:]


def test_a_watchlist_command_with_a_bad_entry_id_is_refused_and_audited(
        deployment: Deployment) -> None:
    d = deployment
    before = d.watchlist_entries()
    bad = ["W\x00", "../../etc/passwd", "W%2F1", "W-\u202e1"]
    for entry_id in bad:
        d.send("watchlist", mac_entry(entry_id, key="a00000000043"), key=entry_id)
    dead = d.read_until("deadletter", lambda vs: len(rejected_values(vs, d.topics.watchlist))
                        >= len(bad), timeout_s=30)
    got = rejected_values(dead, d.topics.watchlist)  # partitioned by entry id: any order
    assert sorted((reason, loads(value)["entry_id"]) for reason, _, value in got) == sorted(
        ("bad_entry_id", e) for e in bad)
    audit = d.read_until("audit", lambda vs: sum(
        v.get("channel") == "topic" and v.get("reason") == "bad_entry_id" for v in vs)
        >= len(bad), timeout_s=15)
    refused = [v for v in audit if v.get("channel") == "topic" and v.get("reason") ==
               "bad_entry_id"]
    assert len(refused) == len(bad)
    assert d.watchlist_entries() == before
