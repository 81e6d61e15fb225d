"""The hit stream and acks over HTTP: `GET /v1/hits/stream`, `POST /v1/hits/{hit_id}/ack`."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import faust
from aiohttp import web as aioweb
from aiohttp.client_exceptions import ClientConnectionResetError

from agents.context import WorkerContext
from config.subscribers import Principal
from schemas.audit_events import ack_event, hits_delivered_event
from schemas.clock import now_ms
from schemas.hits import Hit
from schemas.json import dumps
from web.access import AccessControl
from web.guard import NOSNIFF, Guard, Refusal, authorize
from web.hitlookup import HitLocator
from web.hitstream import HitFanout, HitStream
from web.sse import BadEventId, Position, decode_position, frame

log = logging.getLogger(__name__)

# Kernel send buffer per stream: small, so a client that stops reading shows up as a full
# stream buffer (and is cut off) instead of hiding megabytes in the socket.
STREAM_SNDBUF_BYTES = 65536
# Hits written (and audited, in one event) per write, at most.
WRITE_BATCH = 200
# Clients reconnect this soon after a drop (SSE `retry`).
RECONNECT_MS = 1000
READY_WAIT_S = 30
# How long a lookup of a hit not found waits for this worker's reader of `vigil.hits` to read
# what the broker held when asked (about two fetch waits when it keeps up).
CATCH_UP_WAIT_S = 2.0
# A token past its stream cap is told to retry after this many seconds.
STREAMS_RETRY_S = 5

BAD_EVENT_ID = "Last-Event-ID is not an event id of this stream"
# A hit the token may not see is answered exactly like an unknown hit (acks, dispositions).
UNKNOWN_HIT = ("unknown_hit", "no such hit for this token")


class HitStreamWriter:
    """Writes one stream's hits to its HTTP response; audits each write as one event."""

    def __init__(self, ctx: WorkerContext, stream: HitStream, resp: aioweb.StreamResponse) -> None:
        self.ctx, self.stream, self.resp = ctx, stream, resp
        self.access = ctx.settings.access

    async def _write(self, data: bytes) -> None:
        await asyncio.wait_for(self.resp.write(data), self.access.write_timeout_s)

    async def run(self) -> None:
        """Write until the client goes, the stream is cut off, or a write times out."""
        stream, name = self.stream, self.stream.principal.name
        await self._write(f"retry: {RECONNECT_MS}\n\n".encode())
        while True:
            if stream.cut_off and stream.queue.empty():
                await self._write(frame("lagged", dumps({
                    "detail": "this stream fell too far behind and was cut off; reconnect "
                              "with Last-Event-ID to resume from the topic"})))
                return
            batch = await stream.take(WRITE_BATCH, self.access.ping_interval_s)
            if not batch:
                await self._write(b": ping\n\n")
                continue
            await self._write(b"".join(frame("hit", q.value, q.event_id) for q in batch))
            await self.ctx.audit.write(
                hits_delivered_event([q.hit for q in batch], name, now_ms()))


def resume_position(header: str | None) -> Position | None:
    """Return the position a Last-Event-ID header resumes from (None: start now); raise
    Refusal (400, a fixed detail that echoes nothing) when it is not an event id."""
    if not header:
        return None
    try:
        return decode_position(header)
    except BadEventId:
        raise Refusal(400, "bad_event_id", BAD_EVENT_ID) from None


def visible_hit(hit: Hit | None, principal: Principal) -> Hit:
    """Return `hit` if `principal` may see it; raise Refusal (404) if it is None (unknown)
    or not cleared. Both answer alike (status, body, headers), so asking reveals nothing of
    hits on other lists; the audit keeps the true reason."""
    if hit is None:
        raise Refusal(404, "unknown_hit", "no hit of that id", principal, answer=UNKNOWN_HIT)
    if not principal.may_see(hit.list, hit.priority):
        raise Refusal(404, "not_cleared", f"not cleared for list {hit.list} at P{hit.priority}",
                      principal, answer=UNKNOWN_HIT)
    return hit


async def find_visible(locator: HitLocator, hit_id: str, principal: Principal) -> Hit:
    """Return the hit of `hit_id` if `principal` may see it; raise Refusal (404) as
    `visible_hit` does. A hit written a moment ago may not be read back by this worker yet
    (another worker's, or its own a fetch ago), so one not found is looked for again once
    this worker's reader has read what the broker held when asked. A hit found but not
    cleared takes the same wait, so how long the answer takes tells nothing either."""
    hit = await locator.find(hit_id)
    if hit is None or not principal.may_see(hit.list, hit.priority):
        await locator.fanout.caught_up(CATCH_UP_WAIT_S)
        hit = await locator.find(hit_id)
    return visible_hit(hit, principal)


def _watch_catch_up(task: asyncio.Future[None], stream: HitStream) -> None:
    """When the stream's catch-up reader fails, log it in one line and cut the stream off,
    so its client resumes (the exception is retrieved here, never left for the loop)."""
    if task.cancelled() or task.exception() is None:
        return
    log.warning("hit stream catch-up of %s failed (%s); stream cut off",
                stream.principal.name, type(task.exception()).__name__)
    stream.cut_off = True


def register_hit_routes(app: faust.App, ctx: WorkerContext, access: AccessControl,
                        fanout: HitFanout, locator: HitLocator, guard: Guard) -> None:
    """Register the hit stream and acks."""
    a, m = ctx.settings.access, ctx.metrics

    async def serve(request: Any, principal: Any, resume: Position | None) -> Any:
        stream = fanout.open(principal, resume, a.stream_buffer_hits, m.subscriber_buffer_depth)
        resp = aioweb.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no", **NOSNIFF})
        await resp.prepare(request)
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SNDBUF_BYTES)
        m.subscriber_connections.labels(principal.name).inc()
        catch_up = asyncio.ensure_future(fanout.catch_up(stream))
        catch_up.add_done_callback(lambda t: _watch_catch_up(t, stream))
        try:
            await HitStreamWriter(ctx, stream, resp).run()
        except (ConnectionError, ClientConnectionResetError, TimeoutError):
            pass  # the client went or stopped reading; it resumes with Last-Event-ID
        finally:
            catch_up.cancel()
            fanout.close(stream)
            stream.discard_queue()
            m.subscriber_connections.labels(principal.name).dec()
            if request.transport is not None and stream.cut_off:
                request.transport.close()
        return resp

    @app.page("/v1/hits/stream")
    class HitStreamView(faust.web.View):
        async def get(self, request: Any) -> Any:
            try:
                principal = authorize(access, request.headers.get("Authorization"),
                                      "subscriber")
                resume = resume_position(request.headers.get("Last-Event-ID"))
            except Refusal as refusal:
                return guard.refuse(self, request, refusal)
            try:
                await asyncio.wait_for(fanout.ready.wait(), READY_WAIT_S)
            except TimeoutError:
                return self.json({"error": "not_ready"}, status=503, headers=NOSNIFF)
            if resume is not None and not set(resume) <= set(fanout.position):
                return guard.refuse(self, request, Refusal(
                    400, "bad_event_id", BAD_EVENT_ID, principal))
            if not guard.slots.acquire(principal.name):
                return guard.refuse(self, request, Refusal(
                    429, "too_many_streams",
                    f"this token holds {guard.slots.most} streams on this worker already",
                    principal, headers={"Retry-After": str(STREAMS_RETRY_S)}))
            try:
                return await serve(request, principal, resume)
            finally:
                guard.slots.release(principal.name)

    @app.page("/v1/hits/{hit_id}/ack")
    class AckView(faust.web.View):
        async def post(self, request: Any, hit_id: str) -> Any:
            try:
                principal = authorize(access, request.headers.get("Authorization"),
                                      "subscriber")
                hit = await find_visible(locator, hit_id, principal)
            except Refusal as refusal:
                return guard.refuse(self, request, refusal)
            await ctx.audit.write(ack_event(hit, principal.name, now_ms()))
            return self.json({"acked": hit.hit_id}, headers=NOSNIFF)
