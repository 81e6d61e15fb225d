"""The subscriber and editor HTTP API on the worker's web server, and the duty-desk console.

Thin wiring: authorization, stream pacing and request checks are in plain functions.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from importlib import resources
from typing import Any

import faust
from aiohttp import web as aioweb
from aiohttp.client_exceptions import ClientConnectionResetError

from agents.context import WorkerContext
from config.subscribers import Principal
from schemas.audit_events import (
    ack_event,
    edit_request_event,
    hit_delivered_event,
    http_refusal_event,
)
from schemas.clock import now_ms
from schemas.json import dumps
from streams.delivery import Outgoing, deliver
from streams.restarting import keep_running
from web.access import AccessControl
from web.edits import EditRefused, edit_request
from web.health import register_health
from web.hitstream import HitFanout, HitStream
from web.sse import decode_position, frame

log = logging.getLogger(__name__)

# Kernel send buffer per stream: small, so a client that stops reading shows up as a full
# stream buffer (and is cut off) instead of hiding megabytes in the socket.
STREAM_SNDBUF_BYTES = 65536
# Hits written (and audited) per write, at most.
WRITE_BATCH = 200
# Clients reconnect this soon after a drop (SSE `retry`).
RECONNECT_MS = 1000
READY_WAIT_S = 30


class Refusal(Exception):
    """A request refused with an HTTP status; audited before the answer goes out."""

    def __init__(self, status: int, reason: str, detail: str,
                 principal: Principal | None = None) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.principal = status, reason, detail, principal


def bearer_token(header: str | None) -> str | None:
    """Return the token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, token = (header or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authorize(access: AccessControl, header: str | None, role: str) -> Principal:
    """Return the principal of a request, or raise Refusal (401 no/bad token, 403 no right)."""
    token = bearer_token(header)
    if token is None:
        raise Refusal(401, "no_token", "an Authorization: Bearer token is required")
    principal = access.current.principal(token)
    if principal is None:
        raise Refusal(401, "bad_token", "the token is not valid")
    if role == "editor" and principal.role != "editor":
        raise Refusal(403, "forbidden", "this token may not edit the watchlist", principal)
    return principal


def refusal_event(request: Any, refusal: Refusal) -> dict[str, Any]:
    """Return the audit event of a refused HTTP request."""
    return http_refusal_event(
        status=refusal.status, reason=refusal.reason, detail=refusal.detail,
        method=request.method, path=request.path, remote=request.remote,
        subscriber=refusal.principal.name if refusal.principal else None, at_ms=now_ms())


class HitStreamWriter:
    """Writes one stream's hits to its HTTP response and audits each delivery."""

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
            at = now_ms()
            await self.ctx.audit.write(*[hit_delivered_event(q.hit, name, at) for q in batch])


def register_web(app: faust.App, ctx: WorkerContext) -> None:
    """Register the hit stream, acks, watchlist edits, the console, the health pages, and
    their tasks."""
    register_health(app, ctx)
    a = ctx.settings.access
    access = AccessControl(a.subscribers_file)
    fanout = HitFanout(ctx.bootstrap, ctx.topics.hits, ctx.settings.kafka.fetch_max_wait_ms,
                       a.recent_hits, ctx.metrics.subscriber_drops, settings=ctx.settings)
    m = ctx.metrics
    watchlist_topic = app.topic(ctx.topics.watchlist, key_type=bytes, value_type=bytes,
                                key_serializer="raw", value_serializer="raw")

    @app.task
    async def watch_access() -> None:
        await access.watch(a.reload_interval_s)

    @app.task
    async def fan_out_hits() -> None:
        await keep_running("hit fan-out reader", fanout.run)

    async def refuse(view: faust.web.View, request: Any, refusal: Refusal) -> Any:
        await ctx.audit.write(refusal_event(request, refusal))
        return view.json({"error": refusal.reason, "detail": refusal.detail},
                         status=refusal.status)

    @app.page("/v1/hits/stream")
    class HitStreamView(faust.web.View):
        async def get(self, request: Any) -> Any:
            try:
                principal = authorize(access, request.headers.get("Authorization"),
                                      "subscriber")
                last = request.headers.get("Last-Event-ID")
                try:
                    resume = decode_position(last) if last else None
                except ValueError as exc:
                    raise Refusal(400, "bad_event_id", str(exc), None) from None
            except Refusal as refusal:
                return await refuse(self, request, refusal)
            try:
                await asyncio.wait_for(fanout.ready.wait(), READY_WAIT_S)
            except TimeoutError:
                return self.json({"error": "not_ready"}, status=503)
            stream = fanout.open(principal, resume, a.stream_buffer_hits,
                                 m.subscriber_buffer_depth)
            resp = aioweb.StreamResponse(headers={
                "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no"})
            await resp.prepare(request)
            sock = request.transport.get_extra_info("socket") if request.transport else None
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SNDBUF_BYTES)
            m.subscriber_connections.labels(principal.name).inc()
            catch_up = asyncio.ensure_future(fanout.catch_up(stream))
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

    @app.page("/v1/hits/{hit_id}/ack")
    class AckView(faust.web.View):
        async def post(self, request: Any, hit_id: str) -> Any:
            try:
                principal = authorize(access, request.headers.get("Authorization"),
                                      "subscriber")
                hit = fanout.recent.get(hit_id)
                # Unknown and not cleared answer alike, so an ack reveals nothing.
                if hit is None or not principal.may_see(hit.list, hit.priority):
                    reason = "unknown_hit" if hit is None else "not_cleared"
                    raise Refusal(404, reason, f"no hit {hit_id} for this token", principal)
            except Refusal as refusal:
                return await refuse(self, request, refusal)
            await ctx.audit.write(ack_event(hit, principal.name, now_ms()))
            return self.json({"acked": hit.hit_id})

    async def edit(view: faust.web.View, request: Any, entry_id: str, op: str) -> Any:
        try:
            principal = authorize(access, request.headers.get("Authorization"), "editor")
            try:
                command = edit_request(op, entry_id, await request.read(), principal,
                                       ctx.watchlist.get(entry_id), now_ms(),
                                       ctx.settings.watchlist.max_ttl_days)
            except EditRefused as exc:
                raise Refusal(exc.status, exc.reason, exc.detail, principal) from None
        except Refusal as refusal:
            return await refuse(view, request, refusal)
        before = ctx.watchlist.get(entry_id)
        await deliver([
            ctx.audit.entry(edit_request_event(
                subscriber=principal.name, op=op, entry_id=entry_id, before=before,
                after=command.after, at_ms=now_ms())),
            Outgoing(watchlist_topic, entry_id.encode(), command.value),
        ], ctx.settings.worker.send_retries)
        return view.json({"accepted": entry_id, "op": op}, status=202)

    @app.page("/v1/watchlist/{entry_id}")
    class WatchlistEntryView(faust.web.View):
        async def put(self, request: Any, entry_id: str) -> Any:
            return await edit(self, request, entry_id, "upsert")

        async def delete(self, request: Any, entry_id: str) -> Any:
            return await edit(self, request, entry_id, "delete")

    console_html = resources.files("web").joinpath("console.html").read_bytes()

    @app.page("/console")
    class ConsoleView(faust.web.View):
        async def get(self, request: Any) -> Any:
            return self.bytes(console_html, content_type="text/html")

