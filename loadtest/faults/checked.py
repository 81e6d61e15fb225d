"""The load generator's traffic for fault runs, and its hits checked against ground truth.

Modest rates of binary sensing batches, plate reads and check-ins (planted hits, repeats
that suppression must swallow, malformed records) are sent from a thread for a set time
while a run does its damage (kills workers, adds one); then the hits read back from
`vigil.hits` are compared with what the generator planted, suppression applied.
"""

from __future__ import annotations

import asyncio
import threading
import time

from aiokafka import AIOKafkaProducer

from loadtest.harness.deployment import Deployment
from loadtest.traffic.groundtruth import HitCheck, check_hits, suppress
from loadtest.traffic.sender import StreamPlan, StreamSent, send_plan
from loadtest.traffic.traffic import TrafficGenerator, TrafficSpec
from schemas.clock import now_ms
from schemas.json import dumps
from streams.brokercheck import aiokafka_producer_kwargs
from streams.clients import needs_one_record_per_batch
from streams.security import aiokafka_security

# Records/s and records per message. Modest: a fault run restarts or rebalances workers,
# and each time what was not committed is read again.
TRAFFIC = {"sensing_binary": (1_500, 100), "plates": (200, 20), "checkins": (100, 10)}
SPEC = TrafficSpec(watchlist_size=1_000, hit_rate=0.01, devices=20_000)
LATE_HIT_GRACE_S = 1.0


async def _send(d: Deployment, plans: list[StreamPlan], duration_s: float) -> list[StreamSent]:
    one = needs_one_record_per_batch(d.settings, d.bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=d.bootstrap, acks="all",
                                client_id="vigil-loadtest-checked",
                                **aiokafka_producer_kwargs(one), **aiokafka_security(d.settings))
    await producer.start()
    try:
        return list(await asyncio.gather(*(send_plan(producer, d.topics, p, duration_s)
                                           for p in plans)))
    finally:
        await producer.stop()


class CheckedTraffic:
    """Generated traffic to deployment `d` for `duration_s` seconds, in a thread."""

    def __init__(self, d: Deployment, duration_s: float) -> None:
        self._d, self._duration_s = d, duration_s
        self._gen = TrafficGenerator(SPEC, now_ms())
        self._sent: list[StreamSent] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def load_watchlist(self) -> None:
        """Send the generated watchlist and wait for the broker's acks."""
        d = self._d
        futures = [d.producer.send(d.topics.watchlist, value=dumps(c),
                                   key=c["entry_id"].encode()) for c in self._gen.commands]
        d.producer.flush()
        for fut in futures:
            fut.get(timeout=30)

    def _run(self) -> None:
        # Built for the whole run: a pool re-sent within the suppression window would plant
        # no new hits, and a crash point waits for a batch with a hit.
        plans = [StreamPlan(stream, rate, list(self._gen.messages(
            stream, int(self._duration_s * rate / batch) + 1, batch, rate)))
            for stream, (rate, batch) in TRAFFIC.items()]
        self._sent.extend(asyncio.run(_send(self._d, plans, self._duration_s)))

    def start(self) -> None:
        """Start sending (load the watchlist first)."""
        self._thread.start()

    @property
    def records_sent(self) -> int:
        """The records sent so far (all of them once `check` has returned)."""
        return sum(s.records for s in self._sent)

    def check(self, hits_timeout_s: float = 120) -> HitCheck:
        """Wait until the traffic has been sent, then for the expected hits (at most
        `hits_timeout_s`), and compare what was read with the ground truth. Duplicates
        (the same hit_id read again after a worker was killed) are counted, not failed:
        see `HitCheck`."""
        self._thread.join()
        if not self._sent:
            raise RuntimeError("the traffic sender failed (see the log above)")
        d = self._d
        expected = {h.hit_id for h in suppress([h for s in self._sent for h in s.expected],
                                               d.settings.alerts.suppress_seconds * 1000)}
        hits = d.read_until("hits", lambda vs: expected <= {v["hit_id"] for v in vs},
                            timeout_s=hits_timeout_s)
        time.sleep(LATE_HIT_GRACE_S)  # a hit that should not come has had its chance
        hits = d.read_until("hits", lambda vs: len(vs) >= len(hits), timeout_s=hits_timeout_s)
        return check_hits(expected, [h["hit_id"] for h in hits], duplicates_allowed=True)
