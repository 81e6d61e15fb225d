"""Dispositions over real HTTP against running workers on the real broker: recorded,
replaced, audited, on `vigil.dispositions`, counted, seen on another worker, refused alike
for hidden and unknown hits, bad bodies refused with their reasons, and hits older than a
worker's recent memory found through its position index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from config.subscribers import token_hash
from loadtest.harness.deployment import Deployment
from schemas.clock import now_ms
from schemas.hits import make_hit_id
from schemas.json import dumps, loads
from tests.integration.fixtures import http_request

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
TOKENS = {"persons": "tok-dispo-persons", "vehicles": "tok-dispo-vehicles"}
ENTRIES = {"W-DP": ("wanted-persons", "b00000000001"), "W-DV": ("stolen-vehicles", "b00000000002")}
# Hits older than this many are out of a worker's recent memory (access.recent_hits).
RECENT = 2
OLD_HITS = 12


def subscribers_toml() -> str:
    lists = {"persons": "wanted-persons", "vehicles": "stolen-vehicles"}
    return "".join(f'[[principal]]\nname = "{name}"\ntoken_sha256 = "{token_hash(token)}"\n'
                   f'lists = ["{lists[name]}"]\n' for name, token in TOKENS.items())


@pytest.fixture(scope="module")
def deployment(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run = tmp_path_factory.mktemp("dispo")
    subs = run / "subscribers.toml"
    subs.write_text(subscribers_toml())
    d = Deployment(bootstrap, run, access_subscribers_file=str(subs),
                   access_recent_hits=str(RECENT), access_refusal_burst="100000")
    try:
        for entry_id, (list_name, key) in ENTRIES.items():
            d.send("watchlist", {"op": "upsert", "entry_id": entry_id, "list": list_name,
                                 "subject_type": "device", "id_type": "mac", "key": key,
                                 "priority": 2, "legal_basis": "case 21",
                                 "requested_by": "unit-21",
                                 "expires_at": now_ms() + 30 * DAY_MS}, key=entry_id)
        d.start_worker()
        yield d
    finally:
        d.close()


def request(url: str, method: str, path: str, token: str | None,
            body: bytes | dict | None = None) -> tuple[int, dict]:
    status, data, _ = http_request(url, method, path, token, body)
    return status, loads(data)


def sight_hits(d: Deployment, entry_id: str, sensors: list[str]) -> list[dict]:
    """Sight `entry_id`'s device at each of `sensors`; return their hits, in that order."""
    d.send("sensing", [{"sensor_id": s, "ts": now_ms(), "id_type": "mac",
                        "device_id": ENTRIES[entry_id][1], "rssi": -50} for s in sensors],
           key=sensors[0])
    values = d.read_until("hits", lambda vs: {s for s in sensors} <= {
        v["location_id"] for v in vs}, timeout_s=20)
    by_location = {v["location_id"]: v for v in values}
    return [by_location[s] for s in sensors]


def test_a_disposition_is_recorded_replaced_audited_written_and_counted(
        deployment: Deployment) -> None:
    (hit,) = sight_hits(deployment, "W-DP", ["S-DP1"])
    path = f"/v1/hits/{hit['hit_id']}"
    url = deployment.base_url
    # `entry` goes beyond the contract's body: the entry's scope as the worker holds it.
    assert request(url, "GET", path, TOKENS["persons"]) == (
        200, {"hit": hit, "disposition": None, "entry": {"scope": None}})
    status, first = request(url, "POST", path + "/disposition", TOKENS["persons"],
                            {"outcome": "false_positive", "reason": "misread"})
    assert status == 201
    note = "plate half covered by mud; 車牌 read wrong"
    note += "é" * (500 - len(note))  # 500 characters, more bytes
    assert len(note) == 500 and len(note.encode()) > 500
    status, second = request(url, "POST", path + "/disposition", TOKENS["persons"],
                             {"outcome": "confirmed", "note": note})
    assert status == 200
    assert second["disposition"]["outcome"] == "confirmed"
    # The one in force is the latest, at once on the worker that recorded it.
    status, shown = request(url, "GET", path, TOKENS["persons"])
    assert status == 200 and shown["disposition"] == second["disposition"]
    assert shown["disposition"] == {"outcome": "confirmed", "reason": None, "note": note,
                                    "by": "persons", "at": second["disposition"]["at"]}
    records = deployment.read_until("dispositions", lambda vs: len(vs) >= 2)
    assert [r["outcome"] for r in records] == ["false_positive", "confirmed"]
    assert records[0] == {"hit_id": hit["hit_id"], "entry_id": "W-DP",
                          "list": "wanted-persons", "priority": 2, "source": "sensing",
                          "match": "exact", "outcome": "false_positive", "reason": "misread",
                          "note": None, "by": "persons", "at": first["disposition"]["at"]}
    audited = deployment.read_until("audit", lambda vs: sum(
        v["type"] == "disposition" for v in vs) >= 2, timeout_s=15)
    events = [v for v in audited if v["type"] == "disposition"]
    assert [(e["hit_id"], e["outcome"], e["reason"], e["replaced"], e["subscriber"])
            for e in events] == [(hit["hit_id"], "false_positive", "misread", False, "persons"),
                                 (hit["hit_id"], "confirmed", None, True, "persons")]
    metrics = deployment.http_text("/metrics")
    for outcome in ("false_positive", "confirmed"):
        assert ('vigil_hit_dispositions_total{list="wanted-persons",match="exact",'
                f'outcome="{outcome}"}} 1.0') in metrics


# Each bad body and the reason it is refused with.
BAD_BODIES = [
    (b"not json", "bad_json"),
    (b"[]", "not_a_record"),
    (b"{}", "bad_outcome"),
    (dumps({"outcome": "maybe"}), "bad_outcome"),
    (dumps({"outcome": "false_positive"}), "missing_reason"),
    (dumps({"outcome": "false_positive", "reason": "bad-luck"}), "bad_reason"),
    (dumps({"outcome": "confirmed", "reason": "misread"}), "unexpected_reason"),
    (dumps({"outcome": "no_action", "note": "x" * 501}), "bad_note"),
    (dumps({"outcome": "no_action", "note": "line\nbreak"}), "bad_note"),
    (dumps({"outcome": "no_action", "note": "evil \u202e"}), "bad_note"),
    (dumps({"outcome": "no_action", "note": 5}), "bad_note"),
    (dumps({"outcome": "no_action", "by": "someone-else"}), "unknown_field"),
]


def test_bad_bodies_are_refused_with_their_reason_and_nothing_is_written(
        deployment: Deployment) -> None:
    (hit,) = sight_hits(deployment, "W-DP", ["S-DP-BAD"])
    path = f"/v1/hits/{hit['hit_id']}/disposition"
    for body, reason in BAD_BODIES:
        status, answer = request(deployment.base_url, "POST", path, TOKENS["persons"], body)
        assert (status, answer["error"]) == (400, reason), body
    assert request(deployment.base_url, "GET", f"/v1/hits/{hit['hit_id']}",
                   TOKENS["persons"])[1]["disposition"] is None
    # A good one after them is the first for this hit: none of the bad ones was recorded.
    status, _ = request(deployment.base_url, "POST", path, TOKENS["persons"],
                        {"outcome": "no_action"})
    assert status == 201
    records = deployment.read_until("dispositions", lambda vs: any(
        v["hit_id"] == hit["hit_id"] for v in vs))
    assert [r["outcome"] for r in records if r["hit_id"] == hit["hit_id"]] == ["no_action"]


def test_a_hit_another_worker_wrote_a_moment_ago_is_found(deployment: Deployment) -> None:
    # Written straight to the hits topic, as another worker would: this worker's reader of
    # the topic has not read it when the GET arrives, a fetch wait later at most.
    (hit,) = sight_hits(deployment, "W-DP", ["S-DP-SEEN"])
    for n in range(5):
        observed = hit["observed_ts"] + 1 + n
        other = {**hit, "location_id": "S-DP-ELSEWHERE", "observed_ts": observed,
                 "hit_id": make_hit_id("W-DP", "sensing", "S-DP-ELSEWHERE", observed)}
        deployment.send("hits", other, key=other["hit_id"])
        status, shown = request(deployment.base_url, "GET", f"/v1/hits/{other['hit_id']}",
                                TOKENS["persons"])
        assert (status, shown.get("hit")) == (200, other), n


def test_a_hidden_hit_is_answered_like_an_unknown_one(deployment: Deployment) -> None:
    (hit,) = sight_hits(deployment, "W-DV", ["S-DV-HIDE"])
    url, token = deployment.base_url, TOKENS["persons"]  # not cleared for stolen-vehicles
    unknown_id = "h-0123456789abcdef"
    good = {"outcome": "confirmed"}
    for method, suffix, body in (("POST", "/disposition", good), ("GET", "", None),
                                 ("POST", "/disposition", b"not json")):
        hidden = http_request(url, method, f"/v1/hits/{hit['hit_id']}{suffix}", token, body)
        unknown = http_request(url, method, f"/v1/hits/{unknown_id}{suffix}", token, body)
        assert hidden[0] == unknown[0] == 404
        assert hidden[1] == unknown[1]
        assert hidden[2]["Content-Type"] == unknown[2]["Content-Type"]
        assert hit["hit_id"].encode() not in hidden[1]
    # The subscriber cleared for it records it; nothing of the refused ones was written.
    assert request(url, "POST", f"/v1/hits/{hit['hit_id']}/disposition", TOKENS["vehicles"],
                   good)[0] == 201
    records = deployment.read_until("dispositions", lambda vs: any(
        v["hit_id"] == hit["hit_id"] for v in vs))
    assert [r["by"] for r in records if r["hit_id"] == hit["hit_id"]] == ["vehicles"]
    audited = deployment.read_until("audit", lambda vs: sum(
        v["type"] == "requests_refused" and v["reason"] in ("not_cleared", "unknown_hit")
        for v in vs) >= 2, timeout_s=20)
    assert not any(TOKENS["persons"] in json.dumps(v) for v in audited)


def test_older_hits_are_found_and_a_disposition_shows_on_another_worker(
        deployment: Deployment) -> None:
    sensors = [f"S-OLD{i}" for i in range(OLD_HITS)]
    hits = sight_hits(deployment, "W-DP", sensors)
    # Far more hits since than this worker's recent memory holds.
    sight_hits(deployment, "W-DP", [f"S-NEWER{i}" for i in range(4 * RECENT)])
    oldest = hits[0]
    url, token = deployment.base_url, TOKENS["persons"]
    assert request(url, "GET", f"/v1/hits/{oldest['hit_id']}", token)[1]["hit"] == oldest
    # A second worker starts after all of them: it knows them from its back-fill alone.
    _, other_url, _ = deployment.add_worker()
    for hit in hits:
        assert request(other_url, "GET", f"/v1/hits/{hit['hit_id']}", token) == (
            200, {"hit": hit, "disposition": None, "entry": {"scope": None}})
    status, posted = request(url, "POST", f"/v1/hits/{oldest['hit_id']}/disposition", token,
                             {"outcome": "false_positive", "reason": "duplicate"})
    assert status == 201
    deadline = time.monotonic() + 10
    while True:
        shown = request(other_url, "GET", f"/v1/hits/{oldest['hit_id']}", token)[1]
        if shown["disposition"] is not None:
            break
        assert time.monotonic() < deadline, "the other worker never showed the disposition"
        time.sleep(0.05)
    assert shown["disposition"] == posted["disposition"]


def test_vigil_subscribe_records_a_disposition(deployment: Deployment) -> None:
    (hit,) = sight_hits(deployment, "W-DV", ["S-DV-CLI"])
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")},
           "VIGIL_TOKEN": TOKENS["vehicles"]}

    def dispose(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "subscribe", "--url", deployment.base_url,
             "--dispose", hit["hit_id"], *args], env=env, capture_output=True, text=True,
            timeout=60)

    run = dispose("--outcome", "false_positive", "--reason", "cloned_or_copied",
                  "--note", "twin plate seen on the ring road")
    assert run.returncode == 0, run.stderr
    assert run.stdout == (f"{hit['hit_id']}: false_positive (cloned_or_copied) by vehicles: "
                          "recorded\n")
    refused = dispose("--outcome", "confirmed", "--reason", "misread")
    assert refused.returncode == 1 and "unexpected_reason" in refused.stderr
    run = dispose("--outcome", "confirmed", "--json")
    assert run.returncode == 0, run.stderr
    assert loads(run.stdout)["disposition"]["outcome"] == "confirmed"
    records = deployment.read_until("dispositions", lambda vs: sum(
        v["hit_id"] == hit["hit_id"] for v in vs) >= 2)
    assert [(r["outcome"], r["note"]) for r in records if r["hit_id"] == hit["hit_id"]] == [
        ("false_positive", "twin plate seen on the ring road"), ("confirmed", None)]
