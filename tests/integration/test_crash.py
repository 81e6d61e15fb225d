"""Crash safety: the worker killed at each crash point and from outside under the load
generator's traffic; against its ground truth no hit is missed, and none is extra once
de-duplicated by hit_id (short form of `vigil loadtest crash`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loadtest.faults.crash import KINDS, crash_run, summary
from loadtest.harness.deployment import Deployment

pytestmark = pytest.mark.integration


def test_every_expected_hit_survives_a_crash_at_each_point_and_no_other_arrives(
        deployment_factory: Callable[..., Deployment]) -> None:
    d = deployment_factory()
    report = crash_run(d, kills=len(KINDS))
    print(summary(report))
    assert dict(report.kills) == dict.fromkeys(KINDS, 1)
    hits = report.hits
    assert hits.expected_hits > 100
    assert hits.missed_hits == 0, f"{hits.missed_hits} of {hits.expected_hits} hits lost"
    assert hits.unexpected_hits == 0
