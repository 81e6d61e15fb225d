"""The subscriber and editor HTTP API on the worker's web server, and the duty-desk console.

Thin wiring: the hit stream and acks are in web/hitroutes.py, dispositions in
web/dispositionroutes.py, watchlist edits in web/editroutes.py, refusals and what they cost
in web/guard.py.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import faust

from agents.context import WorkerContext
from streams.reader import open_reader, read_record_at
from streams.restarting import keep_running
from tables.hitindex import HitIndex
from web.access import AccessControl
from web.dispositionfeed import DispositionFeed
from web.dispositionroutes import register_disposition_routes
from web.editroutes import register_edit_routes
from web.guard import NOSNIFF, Guard
from web.health import register_health
from web.hitlookup import HitLocator, backfill_index
from web.hitroutes import register_hit_routes
from web.hitstream import HitFanout

# The console runs only its own script and style, talks only to this worker, and may not be
# framed by another page.
CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
CONSOLE_HEADERS = {**NOSNIFF, "Content-Security-Policy": CONSOLE_CSP,
                   "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                   "Cache-Control": "no-cache"}
# The console's files: path, file in this package, content type.
CONSOLE_FILES = (("/console", "console.html", "text/html"),
                 ("/console.js", "console.js", "text/javascript"),
                 ("/console.css", "console.css", "text/css"))
log = logging.getLogger(__name__)

# A hit looked up by its position: the fetch gives up after this long.
HIT_FETCH_TIMEOUT_S = 5.0
# Refusal summaries that are due are written at least this often.
SUMMARY_TICK_S = 1.0


def register_console(app: faust.App) -> None:
    """Register the console page, its script and its style."""
    for path, name, content_type in CONSOLE_FILES:
        body = resources.files("web").joinpath(name).read_bytes()

        async def get(self: faust.web.View, request: Any, body: bytes = body,
                      content_type: str = content_type) -> Any:
            return self.bytes(body, content_type=content_type, headers=CONSOLE_HEADERS)

        app.page(path)(type(f"Console_{name.replace('.', '_')}", (faust.web.View,),
                            {"get": get}))


def register_web(app: faust.App, ctx: WorkerContext) -> None:
    """Register the hit stream, acks, watchlist edits, the console, the health pages, and
    their tasks."""
    register_health(app, ctx)
    a = ctx.settings.access
    access = AccessControl(a.subscribers_file)
    wait_ms = ctx.settings.kafka.fetch_max_wait_ms
    index = HitIndex(a.hit_lookup_hits)
    fanout = HitFanout(ctx.bootstrap, ctx.topics.hits, wait_ms, a.recent_hits,
                       ctx.metrics.subscriber_drops, settings=ctx.settings, index=index)

    async def fetch_hit(partition: int, offset: int) -> bytes | None:
        return await read_record_at(ctx.bootstrap, ctx.topics.hits, partition, offset,
                                    client_id="vigil-hit-lookup", fetch_max_wait_ms=wait_ms,
                                    timeout_s=HIT_FETCH_TIMEOUT_S, settings=ctx.settings)

    locator = HitLocator(fanout, index, a.hit_lookup_cache, fetch_hit)
    feed = DispositionFeed(ctx.bootstrap, ctx.topics.dispositions, ctx.settings)
    guard = Guard(a)

    @app.task
    async def watch_access() -> None:
        await access.watch(a.reload_interval_s)

    @app.task
    async def fan_out_hits() -> None:
        await keep_running("hit fan-out reader", fanout.run)

    @app.task
    async def backfill_hit_index() -> None:
        await fanout.ready.wait()  # the fan-out has chosen where it begins
        try:
            consumer, tps = await open_reader(ctx.bootstrap, [ctx.topics.hits],
                                              client_id="vigil-hit-index",
                                              fetch_max_wait_ms=wait_ms, settings=ctx.settings)
            try:
                noted = await backfill_index(consumer, tps, index, fanout.read_from)
            finally:
                await consumer.stop()
            log.info("hit index: %d older hits back-filled, %d held (%d MB)", noted,
                     index.size, index.nbytes >> 20)
        except Exception as exc:  # lookups then know only the hits read since the start
            log.warning("hit index back-fill failed (%s): older hits are unknown here", exc)
        finally:
            locator.backfilled.set()

    @app.task
    async def follow_dispositions() -> None:
        await keep_running("dispositions reader", feed.run)

    @app.task
    async def audit_refusals() -> None:
        tick = min(SUMMARY_TICK_S, a.refusal_audit_interval_s / 2)
        await keep_running("refusal audit", lambda: guard.audit_summaries(ctx.audit, tick))

    register_hit_routes(app, ctx, access, fanout, locator, guard)
    register_disposition_routes(app, ctx, access, locator, feed, guard)
    register_edit_routes(app, ctx, access, guard)
    register_console(app)
