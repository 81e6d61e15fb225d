"""Subscribers over real HTTP against a running worker on the real broker: clearance,
resume, refusals, acks, edits, a stalled reader, token rotation and the audit chain."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from config.subscribers import token_hash
from loadtest.harness.deployment import Deployment
from schemas.json import dumps, loads
from tests.integration.fixtures import http_request
from web.client import HitStreamConnection, StreamRefused
from web.sse import Event

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
TOKENS = {"wanted": "tok-wanted", "vehicles": "tok-vehicles", "urgent": "tok-urgent",
          "editor": "tok-editor", "stall": "tok-stall"}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def subscribers_toml(tokens: dict[str, str]) -> str:
    rows = [("wanted", "subscriber", ["wanted-persons"], 3),
            ("vehicles", "subscriber", ["stolen-vehicles"], 3),
            ("urgent", "subscriber", ["*"], 1),
            ("editor", "editor", ["stolen-vehicles"], 3),
            ("stall", "subscriber", ["*"], 3)]
    return "\n".join(
        f'[[principal]]\nname = "{name}"\ntoken_sha256 = "{token_hash(tokens[name])}"\n'
        f'role = "{role}"\nlists = {json.dumps(lists)}\nmin_priority = {prio}\n'
        for name, role, lists, prio in rows)


def upsert(entry_id: str, list_name: str, key: str, priority: int) -> dict:
    return {"op": "upsert", "entry_id": entry_id, "list": list_name, "subject_type": "device",
            "id_type": "mac", "key": key, "priority": priority, "legal_basis": "case 9",
            "requested_by": "unit-9", "expires_at": now_ms() + 30 * DAY_MS}


# Three entries: wanted-persons P2, stolen-vehicles P1, stolen-vehicles P3.
ENTRIES = {"W-P": ("wanted-persons", "a00000000001", 2),
           "W-V1": ("stolen-vehicles", "a00000000002", 1),
           "W-V3": ("stolen-vehicles", "a00000000003", 3)}


@pytest.fixture(scope="module")
def deployment(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run = tmp_path_factory.mktemp("subs")
    subs = run / "subscribers.toml"
    subs.write_text(subscribers_toml(TOKENS))
    # Refusals are summarised every 0.5 s here, and not rate limited in practice (the
    # flood test, tests/integration/test_refusal_flood.py, runs on the defaults).
    d = Deployment(bootstrap, run, access_subscribers_file=str(subs),
                   access_reload_interval_s="0.2", access_ping_interval_s="0.5",
                   access_stream_buffer_hits="20", access_write_timeout_s="3",
                   access_refusal_audit_interval_s="0.5", access_refusal_burst="100000")
    try:
        for entry_id, (list_name, key, prio) in ENTRIES.items():
            d.send("watchlist", upsert(entry_id, list_name, key, prio), key=entry_id)
        d.start_worker()
        yield d
    finally:
        d.close()


def sight(d: Deployment, entry_ids: list[str], sensor: str) -> int:
    """Send one sighting of each entry's device at `sensor`; return its observed ts."""
    ts = now_ms()
    d.send("sensing", [{"sensor_id": sensor, "ts": ts, "id_type": "mac",
                        "device_id": ENTRIES[e][1], "rssi": -50} for e in entry_ids], key=sensor)
    return ts


def collect(stream: HitStreamConnection, *until: str, limit_s: float = 20) -> list[Event]:
    """Read hit events until hits at every location in `until` (markers) have come.

    Sightings at different sensors are matched on different partitions, so their hits may
    come in any order; only the set is checked."""
    got: list[Event] = []
    waiting = set(until)
    deadline = time.monotonic() + limit_s
    for event in stream:
        assert time.monotonic() < deadline, f"no hits at {sorted(waiting)} within {limit_s}s"
        if event.event == "hit":
            got.append(event)
            waiting.discard(loads(event.data)["location_id"])
            if not waiting:
                return got
    raise AssertionError("stream ended")


def collect_resuming(d: Deployment, stream: HitStreamConnection, token: str, *until: str,
                     limit_s: float = 60) -> tuple[list[Event], int]:
    """Like `collect`, reconnecting with Last-Event-ID whenever the server cuts the stream
    off, as a client must; return the hits and how many times it was told it lagged."""
    got: list[Event] = []
    lagged = 0
    waiting = set(until)
    deadline = time.monotonic() + limit_s
    while True:
        try:
            for event in stream:
                assert time.monotonic() < deadline, f"{len(waiting)} hits missing"
                if event.event == "lagged":
                    lagged += 1
                elif event.event == "hit":
                    got.append(event)
                    waiting.discard(loads(event.data)["location_id"])
                    if not waiting:
                        return got, lagged
        finally:
            stream.close()
        stream = HitStreamConnection(d.base_url, token, got[-1].id if got else None)


def locations(events: list[Event]) -> list[tuple[str, str]]:
    return [(h["entry_id"], h["location_id"]) for h in (loads(e.data) for e in events)]


def raw_request(d: Deployment, method: str, path: str, token: str | None,
                body: dict | None = None, headers: dict[str, str | bytes] | None = None
                ) -> tuple[int, bytes, Message]:
    """Return the status, body and headers of one request."""
    return http_request(d.base_url, method, path, token, body, headers)


def request(d: Deployment, method: str, path: str, token: str | None,
            body: dict | None = None) -> tuple[int, dict]:
    status, data, _ = raw_request(d, method, path, token, body)
    return status, loads(data)


def audit_events(d: Deployment, done, timeout_s: float = 15) -> list[dict]:
    return d.read_until("audit", done, timeout_s)


def test_each_subscriber_receives_exactly_the_hits_it_is_cleared_for(
        deployment: Deployment) -> None:
    streams = {n: HitStreamConnection(deployment.base_url, TOKENS[n])
               for n in ("wanted", "vehicles", "urgent")}
    try:
        sight(deployment, list(ENTRIES), "S-CLR1")
        sight(deployment, ["W-P", "W-V1"], "S-CLR2")
        # Once those five hits are on the topic, one last sighting of an entry each
        # subscriber may see marks the end: anything leaked would have come before it.
        deployment.read_until("hits", lambda vs: sum(
            v["location_id"] in ("S-CLR1", "S-CLR2") for v in vs) == 5)
        sight(deployment, ["W-P", "W-V1"], "S-CLR-END")
        got = {n: sorted(locations(collect(s, "S-CLR-END"))) for n, s in streams.items()}
    finally:
        for s in streams.values():
            s.close()
    assert got["wanted"] == [("W-P", "S-CLR-END"), ("W-P", "S-CLR1"), ("W-P", "S-CLR2")]
    assert got["vehicles"] == [("W-V1", "S-CLR-END"), ("W-V1", "S-CLR1"), ("W-V1", "S-CLR2"),
                               ("W-V3", "S-CLR1")]
    assert got["urgent"] == [("W-V1", "S-CLR-END"), ("W-V1", "S-CLR1"), ("W-V1", "S-CLR2")]


def test_resume_with_last_event_id_loses_and_repeats_nothing(deployment: Deployment) -> None:
    stream = HitStreamConnection(deployment.base_url, TOKENS["wanted"])
    sight(deployment, ["W-P"], "S-RES1")
    first = collect(stream, "S-RES1")
    stream.close()
    # While disconnected: hits for this subscriber and for others, on every partition.
    for n in range(2, 8):
        sight(deployment, ["W-P", "W-V1"], f"S-RES{n}")
    resumed = HitStreamConnection(deployment.base_url, TOKENS["wanted"], first[-1].id)
    try:
        sight(deployment, ["W-P"], "S-RES8")  # arrives live, after the catch-up
        after = collect(resumed, *(f"S-RES{n}" for n in range(2, 9)))
    finally:
        resumed.close()
    assert sorted(locations(after)) == [("W-P", f"S-RES{n}") for n in range(2, 9)]


def test_missing_bad_and_unentitled_tokens_are_refused_and_audited(
        deployment: Deployment) -> None:
    with pytest.raises(StreamRefused) as missing:
        HitStreamConnection(deployment.base_url, None)
    with pytest.raises(StreamRefused) as bad:
        HitStreamConnection(deployment.base_url, "not-a-token")
    assert (missing.value.status, bad.value.status) == (401, 401)
    entry = upsert("W-HTTP", "stolen-vehicles", "a000000000ff", 2)
    assert request(deployment, "PUT", "/v1/watchlist/W-HTTP", TOKENS["vehicles"],
                   entry)[0] == 403
    # An ack of a hit the token is not cleared for answers like an unknown hit.
    stream = HitStreamConnection(deployment.base_url, TOKENS["vehicles"])
    try:
        sight(deployment, ["W-V1"], "S-ACK")
        (hit_event,) = collect(stream, "S-ACK")
    finally:
        stream.close()
    hit_id = loads(hit_event.data)["hit_id"]
    # Not cleared and unknown: the same status, body and content type, byte for byte.
    hidden = raw_request(deployment, "POST", f"/v1/hits/{hit_id}/ack", TOKENS["wanted"])
    unknown = raw_request(deployment, "POST", "/v1/hits/h-0000000000000000/ack",
                          TOKENS["wanted"])
    assert hidden[0] == unknown[0] == 404
    assert hidden[1] == unknown[1]
    assert hidden[2]["Content-Type"] == unknown[2]["Content-Type"]
    assert request(deployment, "POST", f"/v1/hits/{hit_id}/ack", TOKENS["vehicles"]) == (
        200, {"acked": hit_id})

    def refused(vs: list[dict]) -> Counter:
        """Refused requests by (status, reason), from the audit's summaries."""
        counts: Counter = Counter()
        for v in vs:
            if v["type"] == "requests_refused":
                counts[v["status"], v["reason"]] += v["count"]
        return counts

    # The audit keeps the true reason of each refusal.
    want = {(401, "bad_token"): 1, (401, "no_token"): 1, (403, "forbidden"): 1,
            (404, "not_cleared"): 1, (404, "unknown_hit"): 1}
    values = audit_events(deployment, lambda vs: refused(vs) == want and any(
        v["type"] == "ack" and v["hit_id"] == hit_id for v in vs))
    assert refused(values) == want
    assert not any("tok-" in json.dumps(v) for v in values), "a token leaked into the audit"
    (ack,) = [v for v in values if v["type"] == "ack"]
    assert (ack["subscriber"], ack["list"]) == ("vehicles", "stolen-vehicles")
    delivered = [v for v in values if v["type"] == "hits_delivered" and hit_id in v["hit_ids"]]
    assert [(v["subscriber"], v["lists"]) for v in delivered] == [
        ("vehicles", ["stolen-vehicles"])]


def test_401_challenges_with_bearer(deployment: Deployment) -> None:
    for token in (None, "not-a-token"):
        for method, path in (("GET", "/v1/hits/stream"), ("POST", "/v1/hits/h-1/ack"),
                             ("DELETE", "/v1/watchlist/W-P")):
            status, _, headers = raw_request(deployment, method, path, token)
            assert status == 401
            assert headers["WWW-Authenticate"].startswith('Bearer realm="vigil"')
            assert headers["X-Content-Type-Options"] == "nosniff"


def test_an_editor_learns_nothing_of_entries_on_lists_it_may_not_touch(
        deployment: Deployment) -> None:
    # W-P is on wanted-persons; the editor may edit stolen-vehicles only.
    delete = {"requested_by": "unit-9", "reason": "probe"}
    foreign = raw_request(deployment, "DELETE", "/v1/watchlist/W-P", TOKENS["editor"], delete)
    missing = raw_request(deployment, "DELETE", "/v1/watchlist/W-NONE", TOKENS["editor"],
                          delete)
    assert foreign[0] == missing[0] == 404
    assert foreign[1] == missing[1]
    assert foreign[2]["Content-Type"] == missing[2]["Content-Type"]
    moved = upsert("W-P", "stolen-vehicles", "a000000000aa", 2)
    del moved["op"]
    status, body, _ = raw_request(deployment, "PUT", "/v1/watchlist/W-P", TOKENS["editor"],
                                  moved)
    into_other = raw_request(deployment, "PUT", "/v1/watchlist/W-NONE", TOKENS["editor"],
                             {**moved, "entry_id": "W-NONE", "list": "wanted-persons"})
    assert (status, body) == into_other[:2] and status == 403
    assert b"wanted-persons" not in body


def test_a_token_holds_at_most_max_streams_per_token(deployment: Deployment) -> None:
    most = deployment.settings.access.max_streams_per_token
    streams = [HitStreamConnection(deployment.base_url, TOKENS["urgent"]) for _ in range(most)]
    try:
        with pytest.raises(StreamRefused) as refused:
            HitStreamConnection(deployment.base_url, TOKENS["urgent"])
        assert refused.value.status == 429
        # Other tokens are not held back by this one.
        HitStreamConnection(deployment.base_url, TOKENS["vehicles"]).close()
        # Once one stream goes (noticed at its next ping), another may open.
        streams.pop().close()
        deadline = time.monotonic() + 15
        while True:
            try:
                streams.append(HitStreamConnection(deployment.base_url, TOKENS["urgent"]))
                break
            except StreamRefused as exc:
                assert exc.status == 429 and time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        for s in streams:
            s.close()


# Each found by an attacker: a number past int64 (the stream never caught up and the log
# said "Task exception was never retrieved"), Python's digit limit (its message echoed), a
# partition the topic does not have, a full-width digit; and more of the same.
BAD_EVENT_IDS = ["0:99999999999999999999999999", "0:" + "9" * 7000, "7:0", "0:\uff11",
                 "1024:0", "0:1,0:2", "-1:0", "0:1;1:2", "0:1e3", ",".join(["0:1"] * 2000)]


def test_bad_last_event_ids_get_400_with_a_fixed_detail_and_log_nothing(
        deployment: Deployment) -> None:
    logged = deployment.log_path.stat().st_size
    want = {"error": "bad_event_id", "detail": "Last-Event-ID is not an event id of this stream"}
    for bad in BAD_EVENT_IDS:
        status, body, _ = raw_request(deployment, "GET", "/v1/hits/stream", TOKENS["wanted"],
                                      headers={"Last-Event-ID": bad.encode()})
        assert (status, loads(body)) == (400, want), bad[:40]
    # The largest valid offsets are served (and simply have nothing to send yet).
    stream = HitStreamConnection(deployment.base_url, TOKENS["wanted"],
                                 "0:9223372036854775807,1:0,2:0,3:0")
    stream.close()
    time.sleep(1.0)
    with deployment.log_path.open("rb") as log:
        log.seek(logged)
        new = log.read().decode(errors="replace")
    for sign in ("Traceback", "exception", "Error", "int_max_str_digits"):
        assert sign not in new, new[-2000:]


def test_editor_puts_and_deletes_entries_with_the_topic_rules(deployment: Deployment) -> None:
    before = deployment.watchlist_entries()
    entry = upsert("W-HTTP2", "stolen-vehicles", "a000000000fe", 2)
    del entry["op"]
    assert request(deployment, "PUT", "/v1/watchlist/W-HTTP2", TOKENS["editor"], entry)[0] == 202
    bad = {**entry, "priority": 9}
    status, body = request(deployment, "PUT", "/v1/watchlist/W-HTTP2", TOKENS["editor"], bad)
    assert (status, body["error"]) == (400, "bad_priority")
    other_list = {**entry, "list": "wanted-persons"}
    assert request(deployment, "PUT", "/v1/watchlist/W-HTTP2", TOKENS["editor"],
                   other_list)[0] == 403
    deadline = time.monotonic() + 15
    while deployment.watchlist_entries() != before + 1:
        assert time.monotonic() < deadline, "PUT entry not applied"
        time.sleep(0.1)
    status, _ = request(deployment, "DELETE", "/v1/watchlist/W-HTTP2", TOKENS["editor"],
                        {"requested_by": "unit-9", "reason": "recovered"})
    assert status == 202
    while deployment.watchlist_entries() != before:
        assert time.monotonic() < deadline, "DELETE not applied"
        time.sleep(0.1)
    values = audit_events(deployment, lambda vs: sum(
        v["type"] == "watchlist_change" and v.get("entry_id") == "W-HTTP2" for v in vs) == 2)
    edits = [(v["op"], v["before"] is not None, v["after"] is not None) for v in values
             if v["type"] == "edit_request" and v["entry_id"] == "W-HTTP2"]
    assert edits == [("upsert", False, True), ("delete", True, False)]


def test_a_stalled_subscriber_is_cut_off_and_the_others_keep_receiving(
        deployment: Deployment) -> None:
    # A client that sends its request and then never reads, with a tiny receive window.
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    url = deployment.base_url.removeprefix("http://")
    host, port = url.split(":")
    stalled.connect((host, int(port)))
    stalled.sendall(f"GET /v1/hits/stream HTTP/1.1\r\nHost: {url}\r\n"
                    f"Authorization: Bearer {TOKENS['stall']}\r\n\r\n".encode())
    reader = HitStreamConnection(deployment.base_url, TOKENS["wanted"])
    try:
        time.sleep(0.5)
        n = 600  # enough to fill the kernel buffers and the 20-hit stream buffer
        deployment.send("sensing", [{"sensor_id": f"S-STALL{i}", "ts": now_ms(),
                                     "id_type": "mac", "device_id": ENTRIES["W-P"][1],
                                     "rssi": -50} for i in range(n)], key="S-STALL")
        got, lagged = collect_resuming(deployment, reader, TOKENS["wanted"],
                                       *(f"S-STALL{i}" for i in range(n)))
        # The burst is larger than a stream buffer, so this reader was cut off too, was
        # told so, and resumed from the topic without a gap or a repeat.
        assert lagged >= 1
        assert sorted(locations(got)) == sorted(("W-P", f"S-STALL{i}") for i in range(n))
        drops = deployment.http_text("/metrics")
        assert 'vigil_subscriber_drops_total{subscriber="stall"} 1.0' in drops
        # Hits still reach the others after the stall.
        reader = HitStreamConnection(deployment.base_url, TOKENS["wanted"], got[-1].id)
        ts = sight(deployment, ["W-P"], "S-AFTER")
        (after,) = collect(reader, "S-AFTER")
        assert loads(after.data)["observed_ts"] == ts
    finally:
        reader.close()
        stalled.close()


def test_a_rotated_token_applies_without_restart(deployment: Deployment,
                                                  tmp_path: Path) -> None:
    path = Path(deployment.settings.access.subscribers_file)
    rotated = {**TOKENS, "wanted": "tok-wanted-2"}
    try:
        path.write_text(subscribers_toml(rotated))
        deadline = time.monotonic() + 15
        while request(deployment, "POST", "/v1/hits/h-0/ack", "tok-wanted-2")[0] == 401:
            assert time.monotonic() < deadline, "new token not taken"
            time.sleep(0.2)
        assert request(deployment, "POST", "/v1/hits/h-0/ack", "tok-wanted")[0] == 401
    finally:
        path.write_text(subscribers_toml(TOKENS))
        deadline = time.monotonic() + 15
        while request(deployment, "POST", "/v1/hits/h-0/ack", "tok-wanted")[0] == 401:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_audit_verify_passes_the_topic_and_names_an_edited_or_removed_event(
        deployment: Deployment, tmp_path: Path) -> None:
    env_args = [sys.executable, "-m", "cli.main", "audit", "verify"]
    env = {**deployment.settings.as_env(), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run(env_args, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("ok: "), ok.stdout + ok.stderr
    # One chain's events (the worker's, or its watchlist audit child's: a chain each).
    values = deployment.read_until(
        "audit", lambda vs: max(Counter(v["producer"] for v in vs).values(), default=0) >= 10)
    producer = Counter(v["producer"] for v in values).most_common(1)[0][0]
    values = [v for v in values if v["producer"] == producer]
    assert len(values) >= 10
    lines = [dumps(v).decode() for v in values]

    def verify(edited: list[str]) -> str:
        f = tmp_path / "audit.jsonl"
        f.write_text("\n".join(edited) + "\n")
        run = subprocess.run([*env_args, "--file", str(f)], env=env, capture_output=True,
                             text=True, timeout=60)
        assert run.returncode == 1, run.stdout
        return run.stdout

    changed = dict(values[4], at=values[4]["at"] + 1)
    assert "audit.jsonl:5: content does not match" in verify(
        [*lines[:4], dumps(changed).decode(), *lines[5:]])
    # Remove seq 5: the event that follows it in its chain (seq 6) is named, wherever
    # concurrent senders put it in the log.
    kept = [line for line, v in zip(lines, values, strict=True) if v["seq"] != 5]
    line_of_6 = 1 + next(i for i, line in enumerate(kept) if loads(line)["seq"] == 6)
    assert f"audit.jsonl:{line_of_6}: seq 6 of " in verify(kept)


def test_vigil_subscribe_prints_the_hits_of_its_token(deployment: Deployment) -> None:
    env = {**deployment.settings.as_env(), "PATH": "/usr/bin:/bin",
           "VIGIL_TOKEN": TOKENS["wanted"]}  # not --token: that shows in ps
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "subscribe", "--json", "--max", "1"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        # Keep sighting until the subscriber, once connected, prints one. Each round at new
        # sensors: a second sighting at the same one would be suppressed (no new hit).
        rounds = 0
        while proc.poll() is None:
            assert time.monotonic() < deadline, "vigil subscribe printed nothing"
            rounds += 1
            sight(deployment, ["W-V1"], f"S-CLI-V{rounds}")
            sight(deployment, ["W-P"], f"S-CLI-P{rounds}")
            time.sleep(0.5)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0 and err == "", err
    hit = loads(out.splitlines()[0])
    assert hit["entry_id"] == "W-P"
    assert hit["location_id"] in {f"S-CLI-P{n}" for n in range(1, rounds + 1)}
