"""Who is refused, how the answer looks, and what a refusal costs.

A refused request (no or bad token, no right, bad input, unknown hit) takes a token from
its remote address's bucket; with the bucket empty the answer is 429 instead. Refusals are
audited as summaries: one event per address and reason per interval, written by a
periodic task, so a flood of refusals costs its sender, not the audit trail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from config.sections import AccessSettings
from config.subscribers import Principal
from schemas.clock import Clock, now_ms
from web.access import AccessControl
from web.limits import RateLimiter, RefusalSummariser, StreamSlots

log = logging.getLogger(__name__)

REALM = "vigil"
# Every answer of the API is data, never something a browser should sniff into a page.
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
RATE_LIMITED = {"error": "rate_limited",
                "detail": "too many refused requests from this address; retry later"}
# Buckets that have refilled are forgotten at most this often.
PRUNE_EVERY_MS = 60_000
# How long a stopping worker waits to write the summaries still open.
DRAIN_TIMEOUT_S = 5.0


class Refusal(Exception):
    """A refused request: the status, and the reason and detail the audit records.

    `answer` (error, detail) is what the client is told when that must not say more than
    another refusal does (an ack of a hit the token is not cleared for is answered like an
    unknown hit); by default the client is told the reason and detail."""

    def __init__(self, status: int, reason: str, detail: str,
                 principal: Principal | None = None, *,
                 answer: tuple[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.principal = status, reason, detail, principal
        self.answer = answer or (reason, detail)
        self.extra_headers = headers or {}

    def body(self) -> dict[str, str]:
        """Return the JSON body of the answer."""
        return {"error": self.answer[0], "detail": self.answer[1]}

    def headers(self) -> dict[str, str]:
        """Return the answer's headers: a Bearer challenge on every 401 (RFC 6750)."""
        headers = {**NOSNIFF, **self.extra_headers}
        if self.status == 401:
            challenge = f'Bearer realm="{REALM}"'
            if self.reason == "bad_token":
                challenge += ', error="invalid_token"'
            headers["WWW-Authenticate"] = challenge
        return headers


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


class View(Protocol):
    """What the guard needs of a Faust view."""

    def json(self, value: Any, *, status: int = 200,
             headers: dict[str, str] | None = None) -> Any: ...


class Audit(Protocol):
    """What the guard needs of the audit trail."""

    async def write(self, *events: dict[str, Any]) -> None: ...


class Guard:
    """The rate limit on refusals per remote address, their audit summaries, and the cap on
    open streams per token, for one worker."""

    def __init__(self, settings: AccessSettings, clock: Clock = now_ms) -> None:
        self.clock = clock
        self.limiter = RateLimiter(settings.refusals_per_minute, settings.refusal_burst, clock)
        self.summaries = RefusalSummariser(round(settings.refusal_audit_interval_s * 1000),
                                           clock)
        self.slots = StreamSlots(settings.max_streams_per_token)
        self._pruned_at = clock()

    def refuse(self, view: View, request: Any, refusal: Refusal) -> Any:
        """Count `refusal` against its address and answer it (429 past the limit)."""
        remote = request.remote or "unknown"
        who = refusal.principal.name if refusal.principal else None
        if not self.limiter.allow(remote):
            self.summaries.note(remote=remote, reason="rate_limited", status=429,
                                method=request.method, path=request.path,
                                detail=f"{refusal.reason} past the limit", subscriber=who)
            retry = str(self.limiter.retry_after_s(remote))
            return view.json(RATE_LIMITED, status=429,
                             headers={**NOSNIFF, "Retry-After": retry})
        self.summaries.note(remote=remote, reason=refusal.reason, status=refusal.status,
                            method=request.method, path=request.path, detail=refusal.detail,
                            subscriber=who)
        return view.json(refusal.body(), status=refusal.status, headers=refusal.headers())

    def due(self) -> list[dict[str, Any]]:
        """Return the summaries whose interval has passed; forget refilled buckets now and
        then."""
        if self.clock() - self._pruned_at >= PRUNE_EVERY_MS:
            self._pruned_at = self.clock()
            self.limiter.prune()
        return self.summaries.due()

    async def audit_summaries(self, audit: Audit, tick_s: float) -> None:
        """Write the summaries as their intervals pass, until cancelled; then write the
        ones still open (best effort: the worker is stopping)."""
        try:
            while True:
                await asyncio.sleep(tick_s)
                events = self.due()
                if events:
                    await audit.write(*events)
        finally:
            events = self.summaries.drain()
            if events:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(audit.write(*events), DRAIN_TIMEOUT_S)
