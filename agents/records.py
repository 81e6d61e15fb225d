"""Agents for the observation topics: decode a batch of messages, match it, send hits and
rejections, and only then let Faust ack it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
from faust.types import EventT

from agents.context import WorkerContext
from schemas.clock import now_ms
from schemas.hits import Hit, encode_hit
from schemas.rejection import Rejected, encode_deadletter
from streams.delivery import Outgoing
from tables.inputs import INPUT_STREAMS, InputStream

log = logging.getLogger(__name__)



def content_type(headers: Any) -> str | None:
    """Return the `content-type` header of a Kafka message, whatever shape Faust gives it."""
    if not headers:
        return None
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:
        if key.lower() == "content-type":
            return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    return None


def process_messages(events: Sequence[EventT], stream: InputStream,
                     ctx: WorkerContext) -> list[Outgoing]:
    """Decode and match one batch of events; return the hits and dead letters to send.

    Never raises: a message whose handling fails for any reason becomes a dead letter, so a
    bad input neither stops the worker nor vanishes.
    """
    m = ctx.metrics
    source = stream.source
    hits_topic, dlq = ctx.hits_topic, ctx.deadletter_topic
    out: list[Outgoing] = []
    limit = ctx.settings.worker.max_message_bytes
    clock = now_ms()
    decoded = 0
    for event in events:
        msg = event.message
        value = msg.value if isinstance(msg.value, bytes) else b""
        try:
            if len(value) > limit:
                rejected = [Rejected("too_large", f"message of {len(value)} bytes over {limit}")]
                found: list[Hit] = []
            else:
                ctype = content_type(msg.headers)
                records, rejected = stream.decode(value, ctype)
                m.records_in.labels(source, stream.message_format(value, ctype)).inc(len(records))
                decoded += len(records)
                out_of_scope = ctx.watchlist.out_of_scope
                matched = stream.find_hits(records, ctx.watchlist, clock)
                if ctx.watchlist.out_of_scope > out_of_scope:
                    m.out_of_scope.labels(source).inc(ctx.watchlist.out_of_scope - out_of_scope)
                found = [h for h in matched if ctx.suppression.admit(h)]
                if len(found) < len(matched):
                    m.suppressed.labels(source).inc(len(matched) - len(found))
        except Exception as exc:  # a bug must not lose the input: dead-letter it
            log.exception("failed to handle %s[%d]@%d", msg.topic, msg.partition, msg.offset)
            rejected = [Rejected("internal_error", f"{type(exc).__name__}: {exc}"[:200])]
            found = []
        for r in rejected:
            m.rejected.labels(source, r.reason).inc()
            out.append(Outgoing(dlq, msg.topic.encode(), encode_deadletter(
                r, value, msg.topic, msg.partition, msg.offset)))
        for h in found:
            m.hits.labels(source, h.list, h.match).inc()
            # A sensor clock ahead of ours would give a negative latency; count it as none.
            m.hit_latency.labels(source).observe(max(0, h.detected_ts - h.observed_ts) / 1000)
            out.append(Outgoing(hits_topic, h.entry_id.encode(), encode_hit(h)))
    m.batch_records.labels(source).observe(decoded)
    return out


def _register(app: faust.App, ctx: WorkerContext, input_stream: InputStream) -> None:
    topic = app.topic(ctx.topics.resolve(input_stream.name), key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    w = ctx.settings.worker

    async def match_records(stream: faust.StreamT) -> None:
        async for events in stream.take_events(w.batch_max_messages, within=w.batch_within_s):
            # Matching before the watchlist is loaded would miss hits of entries not read yet,
            # before the locations are, hits of entries scoped to areas; before the recent
            # hits are read back, a restarted worker would hit again what its predecessor
            # already hit (records it replays included) instead of suppressing it. All are
            # unset again later: the watchlist and locations while they are re-read after
            # the broker lost their data, the hits after each partition assignment.
            await ctx.watchlist_loaded.wait()
            await ctx.locations_loaded.wait()
            await ctx.suppression_loaded.wait()
            started = time.perf_counter()
            outgoing = process_messages(events, input_stream, ctx)
            await ctx.deliver(outgoing, w.send_retries)
            elapsed = time.perf_counter() - started
            ctx.metrics.batch_seconds.labels(input_stream.source).observe(elapsed)

    app.agent(topic, name=f"vigil.match.{input_stream.name}",
              concurrency=w.batches_in_flight)(match_records)


def register_record_agents(app: faust.App, ctx: WorkerContext) -> None:
    """Register one matching agent per input stream (tables/inputs.py)."""
    for input_stream in INPUT_STREAMS:
        _register(app, ctx, input_stream)
