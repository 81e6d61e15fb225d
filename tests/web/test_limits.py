"""The rate limiter, the refusal summaries and the stream cap, on a clock set by hand."""

from __future__ import annotations

from schemas.clock import ManualClock
from schemas.json import dumps
from web.limits import OTHER_ADDRESS, RateLimiter, RefusalSummariser, StreamSlots, cut


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    clock = ManualClock(1_000_000)
    limiter = RateLimiter(per_minute=60, burst=20, clock=clock)
    assert all(limiter.allow("10.0.0.1") for _ in range(20))
    assert not limiter.allow("10.0.0.1")
    assert limiter.retry_after_s("10.0.0.1") == 1
    assert limiter.allow("10.0.0.2"), "another address has its own bucket"
    clock.advance(999)
    assert not limiter.allow("10.0.0.1")
    clock.advance(1)
    assert limiter.allow("10.0.0.1") and not limiter.allow("10.0.0.1")
    # Ten seconds give ten more, never more than the burst however long the wait.
    clock.advance(10_000)
    assert sum(limiter.allow("10.0.0.1") for _ in range(100)) == 10
    clock.advance(3_600_000)
    assert sum(limiter.allow("10.0.0.1") for _ in range(100)) == 20


def test_a_flood_gets_burst_plus_rate_through() -> None:
    clock = ManualClock()
    limiter = RateLimiter(per_minute=60, burst=20, clock=clock)
    allowed = 0
    for _ in range(3000):  # 3,000 requests over 10 s
        allowed += limiter.allow("attacker")
        clock.advance(10_000 // 3000)
    assert 20 <= allowed <= 31


def test_refilled_buckets_are_forgotten_and_the_table_is_bounded() -> None:
    clock = ManualClock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock, max_keys=100)
    for n in range(250):
        limiter.allow(f"a{n}")
    assert len(limiter) == 100
    clock.advance(2_000)
    limiter.prune()
    assert len(limiter) == 0


def test_refusals_are_summarised_per_address_and_reason_per_interval() -> None:
    clock = ManualClock(5_000)
    s = RefusalSummariser(interval_ms=10_000, clock=clock)

    def note(remote: str, reason: str, path: str = "/v1/hits/stream") -> None:
        s.note(remote=remote, reason=reason, status=401, method="GET", path=path,
               detail="the token is not valid", subscriber=None)

    note("10.0.0.1", "bad_token", path="/v1/hits/" + "x" * 8000 + "/ack")
    for _ in range(999):
        clock.advance(5)
        note("10.0.0.1", "bad_token")
    note("10.0.0.1", "no_token")
    note("10.0.0.2", "bad_token")
    assert s.due() == []
    clock.advance(10_000)
    events = sorted(s.due(), key=lambda e: (e["remote"], e["reason"]))
    assert [(e["remote"], e["reason"], e["count"]) for e in events] == [
        ("10.0.0.1", "bad_token", 1000), ("10.0.0.1", "no_token", 1),
        ("10.0.0.2", "bad_token", 1)]
    first = events[0]
    assert (first["type"], first["status"], first["first_at"], first["last_at"]) == (
        "requests_refused", 401, 5_000, 5_000 + 999 * 5)
    assert len(first["sample"]["path"]) == RefusalSummariser.FIELD_CHARS
    assert len(dumps(first)) < 600
    assert s.due() == [] and len(s) == 0


def test_the_number_of_summaries_per_interval_is_bounded() -> None:
    clock = ManualClock()
    s = RefusalSummariser(interval_ms=1_000, clock=clock, max_summaries=10)
    for n in range(500):
        s.note(remote=f"2001:db8::{n:x}", reason="no_token", status=401, method="GET",
               path="/", detail="d", subscriber=None)
    clock.advance(1_000)
    events = s.due()
    assert len(events) == 11
    assert {e["remote"] for e in events} >= {OTHER_ADDRESS}
    assert sum(e["count"] for e in events) == 500


def test_open_summaries_are_drained_when_the_worker_stops() -> None:
    clock = ManualClock()
    s = RefusalSummariser(interval_ms=10_000, clock=clock)
    s.note(remote=None, reason="no_token", status=401, method="GET", path="/", detail="d",
           subscriber=None)
    assert s.due() == []
    assert [(e["remote"], e["count"]) for e in s.drain()] == [("unknown", 1)]
    assert s.drain() == []


def test_every_echoed_field_is_cut_short() -> None:
    clock = ManualClock()
    s = RefusalSummariser(interval_ms=1, clock=clock)
    s.note(remote="r" * 500, reason="bad_token", status=401, method="M" * 100,
           path="/" * 500, detail="d" * 500, subscriber="s" * 500)
    clock.advance(1)
    (event,) = s.due()
    assert len(event["remote"]) <= 80
    assert all(len(v) <= 80 for v in event["sample"].values())
    assert cut("abc", 3) == "abc" and cut("abcd", 3) == "ab…" and cut(None, 3) is None


def test_streams_per_token_are_capped() -> None:
    slots = StreamSlots(2)
    assert slots.acquire("desk") and slots.acquire("desk")
    assert not slots.acquire("desk")
    assert slots.acquire("other")
    slots.release("desk")
    assert slots.held("desk") == 1 and slots.acquire("desk")
