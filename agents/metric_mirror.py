"""A child process's metrics shown by its parent worker: the child reports its samples, the
parent adds what changed to its own series.

The watchlist audit runs in a child process of the worker (agents/watchlist_audit_process.py)
with metrics of its own; Prometheus scrapes only the worker. A report is every sample of
the mirrored families; counters are mirrored as increments (so a restarted child, which
counts from zero again, never makes a worker's counter go down), gauges as values (a series
the child no longer reports is removed, as its owner would have).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

# family name: [(labels as (name, value) pairs in the metric's label order, value)]
Report = dict[str, list[tuple[list[tuple[str, str]], float]]]
_Series = tuple[str, tuple[tuple[str, str], ...]]


def collect_report(registry: CollectorRegistry, families: Iterable[str]) -> Report:
    """Return the samples of `families` (metric names without `_total`) in `registry`:
    a counter's total, a gauge's value."""
    wanted = set(families)
    report: Report = {}
    for family in registry.collect():
        if family.name not in wanted:
            continue
        value_name = f"{family.name}_total" if family.type == "counter" else family.name
        report[family.name] = [(list(s.labels.items()), s.value)
                               for s in family.samples if s.name == value_name]
    return report


class MetricMirror:
    """Applies a child's reports to the parent's metric objects of the same families."""

    def __init__(self, metrics: Mapping[str, Counter | Gauge], kept: Iterable[str] = ()) -> None:
        """`metrics`: the parent's metric of each mirrored family; `kept`: gauge families
        whose series stay when the child stops reporting them."""
        self._metrics = dict(metrics)
        self._kept = frozenset(kept)
        self._seen: dict[_Series, float] = {}

    def apply(self, report: Report) -> None:
        """Add to the parent's series what changed since the last report."""
        now: dict[_Series, float] = {}
        for name, samples in report.items():
            metric = self._metrics.get(name)
            if metric is None:
                continue
            for labels, value in samples:
                series = (name, tuple(tuple(pair) for pair in labels))
                now[series] = value
                child = metric.labels(**dict(series[1])) if series[1] else metric
                if isinstance(metric, Counter):
                    child.inc(max(0.0, value - self._seen.get(series, 0.0)))
                else:
                    child.set(value)
        for series in self._seen.keys() - now.keys():
            self._forget(series)
        self._seen = now

    def restart(self) -> None:
        """A new child counts from zero: forget the last totals; remove its gauges'
        series (e.g. the lag of partitions it owned)."""
        for series in list(self._seen):
            self._forget(series)
        self._seen = {}

    def _forget(self, series: _Series) -> None:
        name, labels = series
        metric = self._metrics[name]
        if isinstance(metric, Gauge) and labels and name not in self._kept:
            metric.remove(*(value for _, value in labels))
