"""Streams fed by the live reader and by catch-up, without a broker."""

from __future__ import annotations

import asyncio

from agents.metrics import build_metrics
from config.subscribers import Principal
from schemas.hits import Hit, encode_hit
from web.hitstream import HitFanout, HitStream
from web.sse import decode_position

WANTED = Principal("desk", "subscriber", frozenset({"wanted-persons"}), 2)


def hit(n: int, list_name: str = "wanted-persons", priority: int = 1) -> bytes:
    return encode_hit(Hit(f"h-{n}", "W-1", list_name, priority, "sensing", f"S-{n}", n, n,
                          "exact", {}))


def fanout() -> HitFanout:
    f = HitFanout("x:1", "vigil.hits", 100, 10, build_metrics().subscriber_drops)
    f.position, f.live_from = {0: 0, 1: 0}, {0: 0, 1: 0}
    return f


def stream(f: HitFanout, resume: dict | None = None, capacity: int = 10) -> HitStream:
    return f.open(WANTED, resume, capacity, build_metrics().subscriber_buffer_depth)


def queued(s: HitStream) -> list[tuple[str, dict]]:
    items = asyncio.run(s.take(100, 0.01))
    return [(q.hit.location_id, decode_position(q.event_id)) for q in items]


def test_a_live_stream_gets_only_cleared_hits_with_resumable_ids() -> None:
    f = fanout()
    s = stream(f)
    assert f.try_join(s)
    f.dispatch(0, 0, hit(1))
    f.dispatch(1, 0, hit(2, "stolen-vehicles"))
    f.dispatch(1, 1, hit(3, priority=3))
    f.dispatch(0, 1, b"not a hit")
    f.dispatch(1, 2, hit(4))
    assert queued(s) == [("S-1", {0: 1, 1: 0}), ("S-4", {0: 2, 1: 3})]
    assert set(f.recent) == {"h-1", "h-2", "h-3", "h-4"}


def test_a_full_stream_is_cut_off_and_the_others_go_on() -> None:
    f = fanout()
    small, other = stream(f, capacity=1), stream(f)
    assert f.try_join(small) and f.try_join(other)
    for offset in range(3):
        f.dispatch(0, offset, hit(offset))
    assert small.cut_off and small not in f.streams
    assert [loc for loc, _ in queued(small)] == ["S-0"]
    assert [loc for loc, _ in queued(other)] == ["S-0", "S-1", "S-2"]


def test_a_resumed_stream_joins_only_where_it_meets_the_live_reader() -> None:
    f = fanout()
    for offset in range(3):
        f.dispatch(0, offset, hit(offset))
    s = stream(f, resume={0: 1, 1: 0})
    assert not f.try_join(s)  # behind on partition 0
    asyncio.run(s.put(0, 1, f.recent["h-1"], hit(1)))
    asyncio.run(s.put(0, 2, f.recent["h-2"], hit(2)))
    assert f.try_join(s)
    f.dispatch(0, 2, hit(2))  # a record the catch-up reader already took: not repeated
    f.dispatch(0, 3, hit(3))
    assert [loc for loc, _ in queued(s)] == ["S-1", "S-2", "S-3"]
