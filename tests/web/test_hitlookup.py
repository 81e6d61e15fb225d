"""Finding hits by id without a broker: recent memory first, then one fetch by position,
and an unknown id answered without any fetch."""

from __future__ import annotations

import asyncio

import pytest

from agents.metrics import build_metrics
from config.subscribers import Principal
from schemas.hits import Hit, encode_hit, make_hit_id
from tables.hitindex import HitIndex
from web.guard import Refusal
from web.hitlookup import HitLocator
from web.hitroutes import visible_hit
from web.hitstream import HitFanout


def hit(n: int) -> Hit:
    return Hit(make_hit_id("W-1", "sensing", f"S-{n}", n), "W-1", "wanted-persons", 2,
               "sensing", f"S-{n}", n, n, "exact", {})


class Topic:
    """Hits by (partition, offset), and the fetches asked of them."""

    def __init__(self) -> None:
        self.values: dict[tuple[int, int], bytes] = {}
        self.fetches: list[tuple[int, int]] = []

    async def fetch_at(self, partition: int, offset: int) -> bytes | None:
        self.fetches.append((partition, offset))
        return self.values[partition, offset]


def locator(recent: int, topic: Topic, n: int) -> tuple[HitLocator, list[Hit]]:
    """A locator whose fan-out has read `n` hits (offsets 0..n-1 of partition 1)."""
    fanout = HitFanout("x:1", "vigil.hits", 100, recent, build_metrics().subscriber_drops,
                       index=HitIndex(100))
    hits = [hit(i) for i in range(n)]
    for offset, h in enumerate(hits):
        topic.values[1, offset] = encode_hit(h)
        fanout.dispatch(1, offset, encode_hit(h))
    found = HitLocator(fanout, fanout.index, 2, topic.fetch_at)
    found.backfilled.set()
    return found, hits


def test_recent_hits_need_no_fetch_and_older_ones_one_each_then_cached() -> None:
    topic = Topic()
    found, hits = locator(3, topic, 10)

    async def run() -> list[Hit | None]:
        return [await found.find(h.hit_id) for h in (hits[9], hits[0], hits[0], hits[4])]

    assert asyncio.run(run()) == [hits[9], hits[0], hits[0], hits[4]]
    assert topic.fetches == [(1, 0), (1, 4)]


def test_unknown_ids_are_answered_without_a_fetch() -> None:
    topic = Topic()
    found, _ = locator(3, topic, 10)

    async def run() -> list[Hit | None]:
        return [await found.find(i) for i in ("h-0123456789abcdef", "stream", "x" * 8000)]

    assert asyncio.run(run()) == [None, None, None]
    assert topic.fetches == []


def test_hidden_and_unknown_hits_are_refused_alike() -> None:
    desk = Principal("desk", "subscriber", frozenset({"stolen-vehicles"}))
    with pytest.raises(Refusal) as hidden:
        visible_hit(hit(1), desk)
    with pytest.raises(Refusal) as unknown:
        visible_hit(None, desk)
    assert (hidden.value.reason, unknown.value.reason) == ("not_cleared", "unknown_hit")
    assert hidden.value.status == unknown.value.status == 404
    assert hidden.value.body() == unknown.value.body()
    assert hidden.value.headers() == unknown.value.headers()
    assert visible_hit(hit(1), Principal("all", "subscriber", frozenset({"*"}))) == hit(1)
