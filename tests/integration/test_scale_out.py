"""Scale-out: a second worker joins the consumer group while traffic flows; against the
load generator's ground truth no hit is lost and none is doubled across the rebalance."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from loadtest.faults.checked import CheckedTraffic
from loadtest.harness.deployment import Deployment
from loadtest.harness.probes import worker_counters

pytestmark = pytest.mark.integration

TRAFFIC_S = 24
JOIN_AT_S = 6


def records_taken(url: str) -> float:
    return sum(v for k, v in worker_counters(url).items() if k.startswith("records_in/"))


def test_a_worker_joining_mid_run_neither_loses_nor_doubles_a_hit(
        deployment_factory: Callable[..., Deployment]) -> None:
    d = deployment_factory()
    traffic = CheckedTraffic(d, TRAFFIC_S)
    traffic.load_watchlist()
    d.start_worker()
    traffic.start()
    time.sleep(JOIN_AT_S)
    _, url, _ = d.add_worker()
    check = traffic.check()
    print(check.line())
    assert check.expected_hits > 50
    assert check.missed_hits == 0 and check.unexpected_hits == 0
    # Records the first worker matched before the rebalance and the second one read again
    # are suppressed by the first one's hits, not hit twice.
    assert check.duplicates == 0
    assert records_taken(url) > 0, "the second worker never took a partition"
