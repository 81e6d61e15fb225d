"""The garbage collector's pauses are measured."""

from __future__ import annotations

import gc

from prometheus_client import CollectorRegistry

from agents.gcpauses import observe_gc_pauses
from agents.metrics import build_metrics


def _pauses(registry: CollectorRegistry, generation: str) -> float:
    return registry.get_sample_value("vigil_gc_pause_seconds_count",
                                     {"generation": generation}) or 0.0


def test_each_collection_is_observed_by_generation_until_stopped() -> None:
    m = build_metrics(CollectorRegistry())
    stop = observe_gc_pauses(m.gc_pause)
    try:
        gc.collect(2)
        gc.collect(2)
        assert _pauses(m.registry, "2") == 2
        assert m.registry.get_sample_value("vigil_gc_pause_seconds_sum",
                                           {"generation": "2"}) > 0
    finally:
        stop()
    gc.collect(2)
    assert _pauses(m.registry, "2") == 2
