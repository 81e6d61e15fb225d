"""Send generated messages at a target rate, stamping each with its real send time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer

from loadtest.harness.probes import wall_ms
from loadtest.traffic.groundtruth import ExpectedHit, planted_hits, planted_out_of_scope
from loadtest.traffic.surge import Surge, due_times
from loadtest.traffic.traffic import Message
from schemas.clock import now_ms
from streams.topics import TopicNames

IN_FLIGHT = 500  # sends awaited together per stream


@dataclass
class StreamPlan:
    """One stream's traffic: a pool of pre-built messages, cycled, at `rate` records/s."""

    stream: str
    rate: float
    messages: list[Message]


@dataclass
class StreamSent:
    """What was sent on one stream: per message (send time ms, records, valid records)."""

    stream: str
    sends: list[tuple[int, int, int]] = field(default_factory=list)
    expected: list[ExpectedHit] = field(default_factory=list)
    out_of_scope: int = 0  # planted sightings that match a key outside the entry's scope
    # Send time to broker ack, per message: separates a slow broker or producer from a
    # slow worker when latency is high.
    ack_ms: list[float] = field(default_factory=list)

    @property
    def records(self) -> int:
        """Return the records sent."""
        return sum(r for _, r, _ in self.sends)

    @property
    def valid_records(self) -> int:
        """Return the records sent that a worker must accept (not malformed)."""
        return sum(v for _, _, v in self.sends)


async def send_plan(producer: AIOKafkaProducer, topics: TopicNames, plan: StreamPlan,
                    duration_s: float, surge: Surge | None = None) -> StreamSent:
    """Send `plan` for `duration_s` seconds at its rate; wait for every ack; return the log.

    Message i is due at i × batch / rate seconds (in a `surge`, at the schedule of
    `loadtest.surge.due_times`). A sender behind schedule sends at once, so the rate
    achieved shows in the log instead of the schedule.
    """
    out = StreamSent(plan.stream)
    topic = topics.resolve(plan.messages[0].topic)
    loop = asyncio.get_running_loop()
    started = loop.time()
    pending: list[asyncio.Future] = []
    due = due_times(plan.messages[0].records, plan.rate, duration_s, surge)
    for i, due_s in enumerate(due):
        delay = started + due_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        msg = plan.messages[i % len(plan.messages)]
        ts = now_ms()
        fut = await producer.send(topic, msg.stamped(ts), key=msg.key,
                                  headers=list(msg.headers))
        fut.add_done_callback(lambda _f, ts=ts: out.ack_ms.append(wall_ms() - ts))
        pending.append(fut)
        out.sends.append((ts, msg.records, msg.records - msg.broken))
        out.expected += planted_hits(msg, ts)
        out.out_of_scope += planted_out_of_scope(msg, ts)
        if len(pending) >= IN_FLIGHT:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    return out
