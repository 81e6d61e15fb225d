"""Refusals: their answers (401 challenge, uniform bodies, 429) and their audit, without a
broker or a web server."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from config.settings import load_settings
from config.subscribers import Principal
from schemas.clock import ManualClock
from schemas.json import dumps
from web.editroutes import edit_refusal
from web.edits import EditRefused
from web.guard import Guard, Refusal
from web.hitroutes import UNKNOWN_HIT

DESK = Principal("desk", "subscriber", frozenset({"wanted-persons"}))


class View:
    """Records what a Faust view would answer."""

    def json(self, value: Any, *, status: int = 200,
             headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        return status, dumps(value), dict(headers or {})


def request(remote: str = "10.0.0.9", path: str = "/v1/hits/stream") -> SimpleNamespace:
    return SimpleNamespace(remote=remote, method="GET", path=path)


def guard(clock: ManualClock, **env: str) -> Guard:
    return Guard(load_settings(env={f"VIGIL_ACCESS_{k.upper()}": v for k, v in env.items()}
                               ).access, clock)


def test_every_401_carries_a_bearer_challenge() -> None:
    g = guard(ManualClock())
    status, _, headers = g.refuse(View(), request(), Refusal(401, "no_token", "need one"))
    assert (status, headers["WWW-Authenticate"]) == (401, 'Bearer realm="vigil"')
    _, _, headers = g.refuse(View(), request(), Refusal(401, "bad_token", "not valid"))
    assert headers["WWW-Authenticate"] == 'Bearer realm="vigil", error="invalid_token"'
    assert headers["X-Content-Type-Options"] == "nosniff"
    _, _, headers = g.refuse(View(), request(), Refusal(403, "forbidden", "no", DESK))
    assert "WWW-Authenticate" not in headers


def test_a_refused_ack_answers_exactly_like_an_unknown_hit() -> None:
    g = guard(ManualClock())
    unknown = g.refuse(View(), request(path="/v1/hits/h-1/ack"), Refusal(
        404, "unknown_hit", "no recent hit of that id", DESK, answer=UNKNOWN_HIT))
    hidden = g.refuse(View(), request(path="/v1/hits/h-2/ack"), Refusal(
        404, "not_cleared", "not cleared for list stolen-vehicles at P1", DESK,
        answer=UNKNOWN_HIT))
    assert unknown == hidden
    assert b"stolen" not in hidden[1] and b"h-2" not in hidden[1]


def test_an_editor_learns_nothing_of_entries_on_other_lists() -> None:
    def answer(op: str, exc: EditRefused) -> tuple:
        return guard(ManualClock()).refuse(View(), request(), edit_refusal(op, exc, DESK))

    missing = EditRefused(404, "unknown_entry", "no entry W-1")
    foreign = EditRefused(403, "forbidden", "this token may not edit list 'wanted-persons'")
    assert answer("delete", foreign) == answer("delete", missing)
    assert answer("delete", foreign)[0] == 404
    # An upsert of another list's entry is answered like an upsert into another list.
    into_other = EditRefused(403, "forbidden", "this token may not edit list 'other'")
    assert answer("upsert", foreign) == answer("upsert", into_other)
    assert b"wanted-persons" not in answer("upsert", foreign)[1]
    # The audit keeps the true reason.
    assert edit_refusal("delete", foreign, DESK).reason == "forbidden"


def test_past_the_burst_refusals_get_429_and_are_counted_not_detailed() -> None:
    clock = ManualClock(1_000)
    g = guard(clock, refusals_per_minute="60", refusal_burst="20",
              refusal_audit_interval_s="10")
    answers = []
    for _ in range(3000):
        answers.append(g.refuse(View(), request(), Refusal(401, "no_token", "need one")))
        clock.advance(3)
    statuses = [a[0] for a in answers]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429
    assert 20 <= statuses.count(401) <= 30 and statuses.count(429) >= 2970
    limited = answers[20]
    assert int(limited[2]["Retry-After"]) >= 1 and b"rate_limited" in limited[1]
    # Another address is not limited by this one.
    assert g.refuse(View(), request("10.0.0.10"), Refusal(401, "no_token", "x"))[0] == 401
    clock.advance(10_000)
    events = g.due()
    assert sorted((e["remote"], e["reason"]) for e in events) == [
        ("10.0.0.10", "no_token"), ("10.0.0.9", "no_token"), ("10.0.0.9", "rate_limited")]
    assert sum(e["count"] for e in events) == 3001
    assert sum(len(dumps(e)) for e in events) < 2_000


class Audit:
    def __init__(self) -> None:
        self.events: list[dict] = []

    async def write(self, *events: dict) -> None:
        self.events.extend(events)


def test_the_periodic_task_writes_a_bursts_last_summary_and_drains_on_stop() -> None:
    clock = ManualClock(0)
    g = guard(clock, refusal_audit_interval_s="1")
    audit = Audit()

    async def run() -> None:
        task = asyncio.ensure_future(g.audit_summaries(audit, 0.01))
        g.refuse(View(), request(), Refusal(401, "no_token", "need one"))
        await asyncio.sleep(0.05)
        assert audit.events == []  # the interval has not passed
        clock.advance(1_000)  # no further refusal comes: the task alone writes it
        await asyncio.sleep(0.05)
        assert [e["count"] for e in audit.events] == [1]
        g.refuse(View(), request(), Refusal(401, "bad_token", "not valid"))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())
    assert [e["reason"] for e in audit.events] == ["no_token", "bad_token"]
