"""The hit stream's writer and its Last-Event-ID check, without a broker or a server."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from agents.metrics import build_metrics
from config.settings import load_settings
from config.subscribers import Principal
from schemas.hits import Hit, encode_hit
from web.guard import Refusal
from web.hitroutes import WRITE_BATCH, HitStreamWriter, _watch_catch_up, resume_position
from web.hitstream import HitStream

DESK = Principal("desk", "subscriber", frozenset({"*"}))


class Response:
    def __init__(self) -> None:
        self.data = b""

    async def write(self, data: bytes) -> None:
        self.data += data


class Audit:
    def __init__(self) -> None:
        self.events: list[dict] = []

    async def write(self, *events: dict) -> None:
        self.events.extend(events)


def test_a_catch_up_of_many_hits_is_audited_per_write_not_per_hit() -> None:
    n = 2 * WRITE_BATCH + 50
    stream = HitStream(DESK, {0: 0}, n, build_metrics().subscriber_buffer_depth)
    hits = [Hit(f"h-{i}", "W-1", f"list-{i % 2}", 1, "sensing", "S-1", i, i, "exact", {})
            for i in range(n)]

    async def run() -> tuple[Response, Audit]:
        for i, h in enumerate(hits):
            await stream.put(0, i, h, encode_hit(h))
        stream.cut_off = True  # write what is queued, then end the stream
        resp, audit = Response(), Audit()
        ctx = SimpleNamespace(settings=load_settings(env={}), audit=audit)
        await HitStreamWriter(ctx, stream, resp).run()
        return resp, audit

    resp, audit = asyncio.run(run())
    assert resp.data.count(b"event: hit\n") == n
    assert [e["count"] for e in audit.events] == [WRITE_BATCH, WRITE_BATCH, 50]
    assert [h for e in audit.events for h in e["hit_ids"]] == [h.hit_id for h in hits]
    assert {e["type"] for e in audit.events} == {"hits_delivered"}
    assert audit.events[0]["lists"] == ["list-0", "list-1"]
    assert audit.events[0]["subscriber"] == "desk"


@pytest.mark.parametrize("header", ["0:99999999999999999999999999", "0:" + "9" * 7000,
                                    "0:\uff11", "x"])
def test_a_bad_last_event_id_is_refused_with_a_fixed_detail(header: str) -> None:
    with pytest.raises(Refusal) as refused:
        resume_position(header)
    r = refused.value
    assert (r.status, r.reason) == (400, "bad_event_id")
    assert r.detail == "Last-Event-ID is not an event id of this stream"


def test_no_last_event_id_starts_now() -> None:
    assert resume_position(None) is None and resume_position("") is None
    assert resume_position("0:5,1:7") == {0: 5, 1: 7}


def test_a_failed_catch_up_cuts_its_stream_off_and_is_retrieved() -> None:
    stream = HitStream(DESK, {0: 0}, 1, build_metrics().subscriber_buffer_depth)

    async def fail() -> None:
        raise OverflowError("offset out of range")

    async def run() -> None:
        task = asyncio.ensure_future(fail())
        task.add_done_callback(lambda t: _watch_catch_up(t, stream))
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())
    assert stream.cut_off
