from __future__ import annotations

import asyncio

import pytest

from agents.faults import delivery
from streams.delivery import Outgoing, deliver


class Killed(Exception):
    pass


class AckingTopic:
    """Records what was handed to it and whether its delivery future was awaited."""

    def __init__(self) -> None:
        self.handed: list[bytes] = []
        self.acked: list[bytes] = []

    async def send(self, key, value):
        self.handed.append(value)
        fut = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda _f: self.acked.append(value))
        asyncio.get_running_loop().call_soon(fut.set_result, None)
        return fut


def run(point: str | None, hits_count: int, deadletters: int = 1
        ) -> tuple[AckingTopic, AckingTopic, list[bytes] | None]:
    """Deliver a batch through the crash point; return the topics and, if the process was
    killed, what had been acked at that moment."""
    hits, dlq = AckingTopic(), AckingTopic()
    acked_at_kill: list[bytes] = []

    def kill() -> None:
        acked_at_kill.extend(hits.acked + dlq.acked)
        raise Killed

    out = [Outgoing(dlq, None, b"d%d" % i) for i in range(deadletters)]
    out += [Outgoing(hits, None, b"h%d" % i) for i in range(hits_count)]

    async def go() -> list[bytes] | None:
        try:
            await delivery(point or "", hits, kill)(out, 0)
        except Killed:
            return acked_at_kill
        return None

    return hits, dlq, asyncio.run(go())


def test_no_crash_point_delivers_everything() -> None:
    hits, dlq, killed = run(None, 3)
    assert killed is None
    assert hits.acked == [b"h0", b"h1", b"h2"] and dlq.acked == [b"d0"]


def test_a_batch_without_hits_passes_every_crash_point() -> None:
    for point in ("before_send", "mid_send", "after_send"):
        _, dlq, killed = run(point, 0, deadletters=2)
        assert killed is None and dlq.acked == [b"d0", b"d1"]


def test_before_send_kills_before_any_output_is_handed_over() -> None:
    hits, dlq, killed = run("before_send", 3)
    assert killed == [] and hits.handed == [] and dlq.handed == []


def test_mid_send_kills_with_half_the_hits_acked_and_the_rest_in_flight() -> None:
    hits, _, killed = run("mid_send", 5)
    assert killed == [b"h0", b"h1"]
    assert hits.handed == [b"h0", b"h1", b"h2", b"h3", b"h4"]


def test_mid_send_with_one_hit_kills_with_it_in_flight() -> None:
    hits, _, killed = run("mid_send", 1)
    assert killed == [] and hits.handed == [b"h0"]


def test_after_send_kills_once_every_output_is_acked() -> None:
    _, _, killed = run("after_send", 2)
    assert killed is not None and sorted(killed) == [b"d0", b"h0", b"h1"]


def test_unknown_crash_point_is_refused() -> None:
    with pytest.raises(ValueError, match="sometime"):
        delivery("sometime", AckingTopic())


def test_without_a_crash_point_batches_go_straight_to_deliver() -> None:
    # The hot path carries no fault injection unless a crash point is configured.
    assert delivery("", AckingTopic()) is deliver
    assert delivery("mid_send", AckingTopic()) is not deliver
