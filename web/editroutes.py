"""Watchlist edits over HTTP: `PUT` and `DELETE /v1/watchlist/{entry_id}`."""

from __future__ import annotations

from typing import Any

import faust

from agents.context import WorkerContext
from schemas.audit_events import edit_request_event
from schemas.clock import now_ms
from streams.delivery import Outgoing, deliver
from web.access import AccessControl
from web.edits import EditRefused, edit_request
from web.guard import NOSNIFF, Guard, Refusal, authorize

# What an editor is told about an entry it may not touch: a delete is answered exactly like
# one of an entry that does not exist; an upsert like one that moves an entry to a list the
# editor may not edit. Neither names the entry's list. The audit keeps the true reason.
NO_SUCH_ENTRY = (404, ("unknown_entry", "no such entry"))
MAY_NOT_EDIT = (403, ("forbidden", "this token may not edit this entry"))


def edit_refusal(op: str, exc: EditRefused, principal: Any) -> Refusal:
    """Return the refusal of a refused edit, answered without revealing other lists' entries."""
    if exc.reason == "unknown_entry" or (exc.reason == "forbidden" and op == "delete"):
        status, answer = NO_SUCH_ENTRY
    elif exc.reason == "forbidden":
        status, answer = MAY_NOT_EDIT
    else:
        return Refusal(exc.status, exc.reason, exc.detail, principal)
    return Refusal(status, exc.reason, exc.detail, principal, answer=answer)


def register_edit_routes(app: faust.App, ctx: WorkerContext, access: AccessControl,
                         guard: Guard) -> None:
    """Register watchlist edits."""
    watchlist_topic = app.topic(ctx.topics.watchlist, key_type=bytes, value_type=bytes,
                                key_serializer="raw", value_serializer="raw")

    async def edit(view: faust.web.View, request: Any, entry_id: str, op: str) -> Any:
        try:
            principal = authorize(access, request.headers.get("Authorization"), "editor")
            try:
                command = edit_request(op, entry_id, await request.read(), principal,
                                       ctx.watchlist.get(entry_id), now_ms(),
                                       ctx.settings.watchlist.max_ttl_days)
            except EditRefused as exc:
                raise edit_refusal(op, exc, principal) from None
        except Refusal as refusal:
            return guard.refuse(view, request, refusal)
        before = ctx.watchlist.get(entry_id)
        await deliver([
            ctx.audit.entry(edit_request_event(
                subscriber=principal.name, op=op, entry_id=entry_id, before=before,
                after=command.after, at_ms=now_ms())),
            Outgoing(watchlist_topic, entry_id.encode(), command.value),
        ], ctx.settings.worker.send_retries)
        return view.json({"accepted": entry_id, "op": op}, status=202, headers=NOSNIFF)

    @app.page("/v1/watchlist/{entry_id}")
    class WatchlistEntryView(faust.web.View):
        async def put(self, request: Any, entry_id: str) -> Any:
            return await edit(self, request, entry_id, "upsert")

        async def delete(self, request: Any, entry_id: str) -> Any:
            return await edit(self, request, entry_id, "delete")
