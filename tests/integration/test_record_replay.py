"""`record` then `replay` then `record` again: the same bytes, partition by partition."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import pytest

from cli.main import main
from loadtest.replay.recording import RecordedMessage, RecordingWriter, read_recording
from loadtest.replay.replay import record, replay
from loadtest.traffic.traffic import STREAMS, TrafficGenerator, TrafficSpec

pytestmark = pytest.mark.integration


def _record(d, path: Path) -> None:
    asyncio.run(record(d.bootstrap, d.topics, path, shorts=("sensing", "plates", "checkins",
                                                             "watchlist"),
                       duration_s=60, idle_s=2, from_beginning=True,
                       fetch_max_wait_ms=d.settings.kafka.fetch_max_wait_ms))


def _by_partition(path: Path) -> dict[tuple[str, int], list[bytes]]:
    out = defaultdict(list)
    for m in read_recording(path):
        out[(m.topic, m.partition)].append(m.encode())
    return dict(out)


def test_record_replay_record_round_trips_byte_for_byte(deployment_factory, tmp_path) -> None:
    source, target = deployment_factory(), deployment_factory()
    gen = TrafficGenerator(TrafficSpec(watchlist_size=50, devices=500, hit_rate=0.05,
                                       malformed_share=0.02), time.time_ns() // 1_000_000)
    now = time.time_ns() // 1_000_000
    for stream in STREAMS:
        for i, msg in enumerate(gen.messages(stream, 5, 40, 400)):
            source.send(msg.topic, msg.stamped(now + i), key=f"K-{i}" if i % 2 else None,
                        headers=list(msg.headers))
    for cmd in gen.commands[:5]:
        source.send("watchlist", cmd, key=cmd["entry_id"])
    source.send("watchlist", None, key=gen.commands[0]["entry_id"])  # a tombstone
    first, second = tmp_path / "first.rec", tmp_path / "second.rec"
    _record(source, first)
    totals = asyncio.run(replay(target.settings, target.bootstrap, first, speed=0))
    _record(target, second)
    assert totals.messages == 4 * 5 + 6
    assert totals.records == 4 * 5 * 40 + 6
    original = _by_partition(first)
    assert sum(map(len, original.values())) == totals.messages
    assert _by_partition(second) == original


def test_replay_keeps_the_pace_times_speed(deployment_factory, tmp_path) -> None:
    d = deployment_factory()
    path = tmp_path / "paced.rec"
    with RecordingWriter(path) as w:
        for i in range(5):  # two seconds of recorded time
            w.write(RecordedMessage("plates", 0, 1_795_000_000_000 + 500 * i, None,
                                    b'{"camera_id": "C-1"}', (), 1))
    started = time.monotonic()
    asyncio.run(replay(d.settings, d.bootstrap, path, speed=4))
    assert time.monotonic() - started >= 0.45  # 2 s at 4x: at least half a second


def test_record_and_replay_commands(deployment_factory, tmp_path, monkeypatch, capsys) -> None:
    source, target = deployment_factory(), deployment_factory()
    for i in range(3):
        source.send("plates", [{"camera_id": "C-1", "ts": 1_795_000_000_000 + i,
                                "plate": "鲁K·12345"}] * 2)
    path = tmp_path / "cli.rec"
    monkeypatch.setenv("VIGIL_BOOTSTRAP", source.bootstrap)
    monkeypatch.setenv("VIGIL_KAFKA_TOPIC_PREFIX", source.settings.kafka.topic_prefix)
    assert main(["loadtest", "record", str(path), "--topics", "plates", "--idle", "2",
                 "--from-beginning"]) == 0
    assert "recorded 3 messages, 6 records" in capsys.readouterr().out
    monkeypatch.setenv("VIGIL_KAFKA_TOPIC_PREFIX", target.settings.kafka.topic_prefix)
    assert main(["loadtest", "replay", str(path), "--fast"]) == 0
    captured = capsys.readouterr()
    assert "replayed 3 messages, 6 records" in captured.out
    assert "100%" in captured.err and "hits 0" in captured.err  # the last progress line
    plates = target.read_until("plates", lambda vs: len(vs) >= 3)
    assert [len(v) for v in plates] == [2, 2, 2]
