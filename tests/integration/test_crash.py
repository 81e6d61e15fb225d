"""Crash safety: the worker killed at each crash point and from outside under steady traffic;
no hit lost, and none extra once de-duplicated by hit_id (short form of `vigil loadtest
crash`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loadtest.crash import KINDS, crash_run, summary
from loadtest.deployment import Deployment

pytestmark = pytest.mark.integration


def test_every_hit_survives_a_crash_at_each_point_and_duplicates_share_their_hit_id(
        deployment_factory: Callable[..., Deployment]) -> None:
    d = deployment_factory()
    report = crash_run(d, kills=len(KINDS))
    print(summary(report))
    assert dict(report.kills) == dict.fromkeys(KINDS, 1)
    assert report.sightings > 100
    assert report.missing == 0, f"{report.missing} of {report.sightings} sightings lost their hit"
    assert report.conflicting_ids == 0
