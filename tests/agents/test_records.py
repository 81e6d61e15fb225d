"""Batch handling of the record agents, without a broker: nothing raises, nothing vanishes."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace

import pytest

from agents.context import WorkerContext
from agents.records import content_type, process_messages
from config.settings import load_settings
from schemas.json import dumps, loads
from schemas.sensing import SENSING_CONTENT_TYPE, encode_sensing_batch
from schemas.watchlist import WatchlistEntry
from streams.delivery import Outgoing, deliver
from tables.inputs import input_stream
from tests.agents.fixtures import make_context

FAR = 4_000_000_000_000


def make_ctx(**env: str) -> WorkerContext:
    settings = load_settings(env=env)
    ctx = make_context(settings)
    ctx.watchlist.upsert(WatchlistEntry(
        entry_id="W-1", list="l", subject_type="device", kind="mac", key="a45e60d1229f",
        match="exact", priority=1, legal_basis="b", requested_by="r", expires_at=FAR))
    return ctx


def event(value: object, offset: int = 0, headers: object = None) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(topic="vigil.sensing", partition=3,
                                                   offset=offset, value=value, headers=headers))


def sensing(events, ctx):
    return process_messages(events, input_stream("sensing"), ctx)


def test_good_bad_and_binary_messages_in_one_batch() -> None:
    ctx = make_ctx()
    good = dumps({"sensor_id": "S-1", "ts": 5, "id_type": "mac", "device_id": "A45E60D1229F"})
    binary = encode_sensing_batch([{"ts": 6, "sensor_id": 9, "id_type": "mac",
                                    "device_id": "a45e60d1229f"}])
    out = sensing([event(good, 0), event(b"\xff\xfe", 1),
                   event(binary, 2, [("content-type", SENSING_CONTENT_TYPE.encode())])], ctx)
    assert [(o.topic, o.key) for o in out] == [("HITS", b"W-1"), ("DLQ", b"vigil.sensing"),
                                               ("HITS", b"W-1")]
    letter = loads(out[1].value)
    assert (letter["reason"], letter["partition"], letter["offset"]) == ("bad_json", 3, 1)
    assert [loads(o.value)["location_id"] for o in (out[0], out[2])] == ["S-1", "S-000009"]


def test_oversized_message_is_dead_lettered_unread() -> None:
    ctx = make_ctx(VIGIL_WORKER_MAX_MESSAGE_BYTES="1024")
    out = sensing([event(b"[" + b" " * 2000 + b"]")], ctx)
    assert [loads(o.value)["reason"] for o in out] == ["too_large"]


def test_a_failing_matcher_dead_letters_instead_of_raising() -> None:
    ctx = make_ctx()

    plates = input_stream("plates")

    def broken(records, watchlist, now):
        raise RuntimeError("bug")

    read = dumps({"camera_id": "C-1", "ts": 5, "plate": "AB123"})
    out = process_messages([event(read)], dataclasses.replace(plates, find_hits=broken), ctx)
    (letter,) = [loads(o.value) for o in out]
    assert letter["reason"] == "internal_error" and "RuntimeError: bug" in letter["detail"]
    assert process_messages([event(read)], plates, ctx) == []


@pytest.mark.parametrize("headers", [[("content-type", b"x/y")], {"Content-Type": b"x/y"}])
def test_content_type_header_shapes(headers) -> None:
    assert content_type(headers) == "x/y"
    assert content_type(None) is None


class FlakyTopic:
    """Fails the first `failures` sends of each value, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: dict[bytes, int] = {}

    async def send(self, key, value):
        n = self.attempts[value] = self.attempts.get(value, 0) + 1
        fut = asyncio.get_running_loop().create_future()
        if n == 1:
            raise BufferError("queue full")  # raised by send itself, not by its future
        if n <= self.failures:
            fut.set_exception(ConnectionError("broker away"))
        else:
            fut.set_result((value, n))
        return fut


def test_deliver_retries_failed_sends_until_acked() -> None:
    topic = FlakyTopic(failures=2)
    msgs = [Outgoing(topic, None, b"a"), Outgoing(topic, None, b"b")]
    acks = asyncio.run(deliver(msgs, retries=3, backoff_s=0))
    assert topic.attempts == {b"a": 3, b"b": 3}
    assert acks == [(b"a", 3), (b"b", 3)]  # each message's own ack, in their order


def test_deliver_gives_up_without_returning_when_the_broker_never_acks() -> None:
    topic = FlakyTopic(failures=99)

    class GaveUp(Exception):
        pass

    def give_up():
        raise GaveUp

    with pytest.raises(GaveUp):
        asyncio.run(deliver([Outgoing(topic, None, b"a")], retries=2, backoff_s=0,
                            give_up=give_up))
    assert topic.attempts == {b"a": 3}


def sample(ctx: WorkerContext, name: str, **labels: str) -> float | None:
    return ctx.metrics.registry.get_sample_value(name, labels)


def test_hits_are_counted_by_list_and_their_latency_observed(monkeypatch) -> None:
    ctx = make_ctx()
    monkeypatch.setattr("agents.records.now_ms", lambda: 10_000)
    records = [{"sensor_id": "S-1", "ts": ts, "id_type": "mac", "device_id": "a45e60d1229f"}
               for ts in (9_700, 9_950, 12_000)]  # the last one's sensor clock runs ahead
    out = sensing([event(dumps(records)), event(b"{}", 1)], ctx)
    assert [o.topic for o in out].count("HITS") == 3
    assert sample(ctx, "vigil_hits_total", source="sensing", list="l", match="exact") == 3
    assert sample(ctx, "vigil_hit_latency_seconds_count", source="sensing") == 3
    assert sample(ctx, "vigil_hit_latency_seconds_sum", source="sensing") == pytest.approx(0.35)
    assert sample(ctx, "vigil_hit_latency_seconds_bucket", source="sensing", le="0.05") == 2
    assert sample(ctx, "vigil_hit_latency_seconds_bucket", source="sensing", le="0.25") == 2
    assert sample(ctx, "vigil_hit_latency_seconds_bucket", source="sensing", le="0.5") == 3
    # One batch of two messages: three records decoded, the empty object rejected.
    assert sample(ctx, "vigil_batch_records_count", source="sensing") == 1
    assert sample(ctx, "vigil_batch_records_sum", source="sensing") == 3
