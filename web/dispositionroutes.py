"""Dispositions over HTTP (contract v1.1): `POST /v1/hits/{hit_id}/disposition` records
what came of a hit, `GET /v1/hits/{hit_id}` shows the hit and the disposition in force.

Checked in this order, so that what a client is told never depends on hits it may not
see: the token (401), the hit (404 alike for unknown and not cleared, web/hitroutes.py
`visible_hit`), then the body (400 with the rule it broke; nothing recorded or written).
A recorded disposition is audited and written to `vigil.dispositions` in one delivery,
awaited before the answer: 201 when the hit had none in force, 200 when it replaces one.

Beyond the contract's GET body, `entry` shows the hit's entry as this worker holds it now
(its `scope`), so a console can show where and when the entry applies without the hit topic
carrying more than the contract's fields.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from agents.context import WorkerContext
from config.subscribers import Principal
from schemas.audit_events import disposition_event
from schemas.clock import now_ms
from schemas.dispositions import encode_disposition, make_disposition, parse_disposition_request
from schemas.hits import Hit, hit_view
from schemas.rejection import Rejected
from schemas.scope import encode_scope
from streams.delivery import Outgoing, deliver
from tables.watchlist import EntryView
from web.access import AccessControl
from web.dispositionfeed import DispositionFeed
from web.guard import NOSNIFF, Guard, Refusal, authorize
from web.hitlookup import HitLocator
from web.hitroutes import READY_WAIT_S, find_visible

NOT_READY = {"error": "not_ready",
             "detail": "this worker has not read the hits and dispositions yet; retry"}


def entry_shown(entry: EntryView | None, principal: Principal) -> dict[str, Any] | None:
    """Return what a hit's page shows of its entry as held now: `{"scope": ...}` (the
    contract's scope object, or None for an unscoped entry). None for an entry no longer
    held and, alike, for one now on a list or at a priority `principal` may not see, so the
    answer tells nothing of entries the token is not cleared for."""
    if entry is None or not principal.may_see(entry.list, entry.priority):
        return None
    return {"scope": encode_scope(entry.scope) if entry.scope is not None else None}


def register_disposition_routes(app: faust.App, ctx: WorkerContext, access: AccessControl,
                                locator: HitLocator, feed: DispositionFeed,
                                guard: Guard) -> None:
    """Register the disposition of a hit and the hit's page. Register after the hit stream:
    `/v1/hits/stream` must not be taken for a hit id."""
    topic = app.topic(ctx.topics.dispositions, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")

    async def ready() -> bool:
        try:
            await asyncio.wait_for(asyncio.gather(locator.fanout.ready.wait(),
                                                  feed.loaded.wait()), READY_WAIT_S)
        except TimeoutError:
            return False
        return True

    async def subscriber_and_hit(request: Any, hit_id: str) -> tuple[Principal, Hit] | None:
        """Return the token's principal and the hit, None when this worker is not ready
        yet, or raise Refusal."""
        principal = authorize(access, request.headers.get("Authorization"), "subscriber")
        if not await ready():
            return None
        return principal, await find_visible(locator, hit_id, principal)

    @app.page("/v1/hits/{hit_id}/disposition")
    class DispositionView(faust.web.View):
        async def post(self, request: Any, hit_id: str) -> Any:
            try:
                if (found := await subscriber_and_hit(request, hit_id)) is None:
                    return self.json(NOT_READY, status=503, headers=NOSNIFF)
                principal, hit = found
                parsed = parse_disposition_request(await request.read())
                if isinstance(parsed, Rejected):
                    raise Refusal(400, parsed.reason, parsed.detail, principal)
            except Refusal as refusal:
                return guard.refuse(self, request, refusal)
            replaced = await feed.in_force(hit.hit_id) is not None
            disposition = make_disposition(hit, parsed, principal.name, now_ms())
            _, written = await deliver([
                ctx.audit.entry(disposition_event(disposition, replaced)),
                Outgoing(topic, hit.hit_id.encode(), encode_disposition(disposition)),
            ], ctx.settings.worker.send_retries)
            feed.book.apply(disposition, written.partition, written.offset)
            ctx.metrics.hit_dispositions.labels(disposition.list, disposition.match,
                                                disposition.outcome).inc()
            return self.json({"hit_id": hit.hit_id, "disposition": disposition.shown()},
                             status=200 if replaced else 201, headers=NOSNIFF)

    @app.page("/v1/hits/{hit_id}")
    class HitView(faust.web.View):
        async def get(self, request: Any, hit_id: str) -> Any:
            try:
                if (found := await subscriber_and_hit(request, hit_id)) is None:
                    return self.json(NOT_READY, status=503, headers=NOSNIFF)
                principal, hit = found
            except Refusal as refusal:
                return guard.refuse(self, request, refusal)
            disposition = await feed.in_force(hit.hit_id)
            return self.json({"hit": hit_view(hit),
                              "disposition": disposition.shown() if disposition else None,
                              "entry": entry_shown(ctx.watchlist.get(hit.entry_id), principal)},
                             headers=NOSNIFF)
