"""Sightings sent at a known, steady rate, so a measured rate can be compared with it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cli.demo_traffic import SightingSource
from loadtest.harness.deployment import Deployment
from schemas.clock import now_ms
from schemas.sensing import SENSING_CONTENT_TYPE, encode_sensing_batch

BINARY = [("content-type", SENSING_CONTENT_TYPE.encode())]


@dataclass(frozen=True)
class SentTraffic:
    """What a paced run sent, and when (epoch seconds, the clock Prometheus uses)."""

    records: int
    watched: int
    started: float
    ended: float

    @property
    def rate(self) -> float:
        """Records per second actually sent."""
        return self.records / (self.ended - self.started)


def send_paced_sightings(d: Deployment, source: SightingSource, rate: float, duration_s: float,
                         batch_records: int = 100, watched_every: int = 5) -> SentTraffic:
    """Send binary sensing batches of `batch_records` at `rate` records/s for `duration_s`.

    Every `watched_every`-th batch holds one watched device. Each batch is acknowledged
    before the next; a send that falls behind schedule is not made up in a burst, so the
    rate stays steady and the figures report what was really sent.
    """
    period_s = batch_records / rate
    records = watched = 0
    started = time.time()
    next_at = started
    n = 0
    while next_at < started + duration_s:
        time.sleep(max(0.0, next_at - time.time()))
        hits = int(n % watched_every == 0)
        batch = source.batch(batch_records, now_ms(), watched_hits=hits)
        d.send("sensing", encode_sensing_batch(batch), headers=BINARY)
        records += len(batch)
        watched += hits
        n += 1
        next_at = max(next_at + period_s, time.time() - period_s)
    # The last batch covers the period after it was sent, as every other batch does.
    return SentTraffic(records, watched, started, max(next_at, time.time()))
