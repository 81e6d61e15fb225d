"""A child's metrics as its worker exports them: counters grow by what the child counted
(also across a restarted child, which counts from zero), gauges follow its values and lose
the series it stops reporting, except those kept."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from agents.metric_mirror import MetricMirror, collect_report


def child_metrics() -> tuple[CollectorRegistry, Counter, Gauge, Gauge]:
    r = CollectorRegistry()
    return (r, Counter("c_rejected", "", ["source", "reason"], registry=r),
            Gauge("c_lag", "", ["topic", "partition"], registry=r),
            Gauge("c_signed", "", ["producer"], registry=r))


def parent() -> tuple[CollectorRegistry, MetricMirror]:
    r, rejected, lag, signed = child_metrics()
    rejected.labels("watchlist", "bad_ttl").inc(5)  # counted by the worker itself
    mirror = MetricMirror({"c_rejected": rejected, "c_lag": lag, "c_signed": signed},
                          kept=("c_signed",))
    return r, mirror


def test_counters_grow_by_the_child_s_increments_across_a_restart() -> None:
    seen, mirror = parent()
    child, rejected, _, _ = child_metrics()
    rejected.labels("watchlist", "bad_ttl").inc(3)
    mirror.apply(collect_report(child, ["c_rejected"]))
    rejected.labels("watchlist", "bad_ttl").inc(2)
    rejected.labels("watchlist", "no_legal_basis").inc()
    mirror.apply(collect_report(child, ["c_rejected"]))
    assert seen.get_sample_value("c_rejected_total",
                                 {"source": "watchlist", "reason": "bad_ttl"}) == 10
    mirror.restart()
    child, rejected, _, _ = child_metrics()  # a new child counts from zero
    rejected.labels("watchlist", "bad_ttl").inc(1)
    mirror.apply(collect_report(child, ["c_rejected"]))
    assert seen.get_sample_value("c_rejected_total",
                                 {"source": "watchlist", "reason": "bad_ttl"}) == 11
    assert seen.get_sample_value("c_rejected_total",
                                 {"source": "watchlist", "reason": "no_legal_basis"}) == 1


def test_gauges_follow_the_child_and_lose_the_series_it_no_longer_reports() -> None:
    seen, mirror = parent()
    child, _, lag, signed = child_metrics()
    lag.labels("vigil.watchlist", "0").set(7)
    lag.labels("vigil.watchlist", "1").set(9)
    signed.labels("host/a").set(1000)
    families = ["c_lag", "c_signed", "c_other"]
    mirror.apply(collect_report(child, families))
    assert seen.get_sample_value("c_lag", {"topic": "vigil.watchlist", "partition": "1"}) == 9
    lag.remove("vigil.watchlist", "1")  # partition revoked
    lag.labels("vigil.watchlist", "0").set(2)
    mirror.apply(collect_report(child, families))
    assert seen.get_sample_value("c_lag", {"topic": "vigil.watchlist", "partition": "0"}) == 2
    assert seen.get_sample_value("c_lag", {"topic": "vigil.watchlist", "partition": "1"}) is None
    mirror.restart()  # the child ended: its lag goes, its signed count stays
    assert seen.get_sample_value("c_lag", {"topic": "vigil.watchlist", "partition": "0"}) is None
    assert seen.get_sample_value("c_signed", {"producer": "host/a"}) == 1000
