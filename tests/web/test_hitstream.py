"""Streams fed by the live reader and by catch-up, without a broker."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from agents.metrics import build_metrics
from config.subscribers import Principal
from schemas.clock import now_ms
from schemas.hits import Hit, encode_hit
from web.hitstream import MAX_CATCHING_UP, HitFanout, HitStream
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


class FetchState:
    """What `caught_up` reads of a consumer: each partition's high watermark and when a
    fetch answer last reported it (ms)."""

    def __init__(self) -> None:
        self.ends: dict[TopicPartition, tuple[int, int]] = {}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends[tp][0] if tp in self.ends else None

    def last_poll_timestamp(self, tp: TopicPartition) -> int | None:
        return self.ends[tp][1] if tp in self.ends else None


def test_a_lookup_waits_until_the_reader_has_read_what_the_broker_held_when_asked() -> None:
    async def run() -> None:
        f = fanout()
        tps = [TopicPartition("vigil.hits", p) for p in (0, 1)]
        f._partitions = tps
        state = FetchState()
        waiting = asyncio.ensure_future(f.caught_up(5.0))
        await asyncio.sleep(0.01)
        later = now_ms() + 1000
        # An answer to a fetch that may have left before the lookup asked does not count:
        # the first answer after it is taken as one of those, the second as one sent after.
        state.ends = {tps[0]: (5, later), tps[1]: (0, later)}
        f._tell_caught_up(state)
        state.ends = {tps[0]: (7, later + 100), tps[1]: (0, later + 100)}
        f._tell_caught_up(state)
        await asyncio.sleep(0)
        assert not waiting.done()  # 7 on partition 0, and the reader is at 0
        f.position[0] = 5
        f._tell_caught_up(state)
        await asyncio.sleep(0)
        assert not waiting.done()  # the end before the lookup asked is not enough
        f.position[0] = 7
        f._tell_caught_up(state)
        assert await waiting is True
        assert not f._catching_up

    asyncio.run(run())


def test_a_lookup_gives_up_after_its_timeout_and_past_the_cap_at_once() -> None:
    async def run() -> None:
        f = fanout()
        f._partitions = [TopicPartition("vigil.hits", 0)]
        assert await f.caught_up(0.05) is False
        waiting = [asyncio.ensure_future(f.caught_up(5.0)) for _ in range(MAX_CATCHING_UP)]
        await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        assert await f.caught_up(5.0) is False
        assert asyncio.get_running_loop().time() - started < 1.0
        for w in waiting:
            w.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        assert not f._catching_up

    asyncio.run(run())
