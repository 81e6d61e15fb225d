"""The figures of `vigil loadtest watchlist-bench`, from what it read: pure functions only.

What a worker's /metrics, /proc/<pid>/status and log say is parsed here; the arithmetic
(RSS per entry, p99, the largest garbage-collector pause a histogram allows) and the
comparison with issue 19's goals are done here; the run itself is in
`loadtest.bench.watchlist_bench`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

# The JSON result's fields, in order (issue 19), then what the bench adds.
FIELDS = ("entries", "rss_bytes_per_entry", "read_entries_per_s", "cold_start_s",
          "warm_start_s", "bulk_load_entries_per_s", "match_p99_during_load_s", "missed_hits",
          "unexpected_hits", "gc_max_pause_s")
EXTRA_FIELDS = ("load_average", "commit", "notes", "goals_met")
# Issue 19's goals for one worker on the 2-core VM: field -> (comparison, bound).
GOALS: dict[str, tuple[str, float]] = {
    "rss_bytes_per_entry": ("<=", 150),
    "read_entries_per_s": (">=", 200_000),
    "warm_start_s": ("<=", 5),
    "bulk_load_entries_per_s": (">=", 100_000),
    "match_p99_during_load_s": ("<=", 1),
    "missed_hits": ("<=", 0),
}
_LOADED = re.compile(r"watchlist loaded: (\d+) entries from \S+ in ([0-9.]+)s")


@dataclass(frozen=True)
class WorkerMetrics:
    """What the bench reads from a worker's /metrics at one moment."""

    entries: float = 0.0  # vigil_watchlist_entries, over every list
    commands: float = 0.0  # vigil_watchlist_commands_total: commands applied, every op
    audited: float = 0.0  # vigil_audit_events_total{type="watchlist_change"}
    # vigil_gc_pause_seconds_bucket over every generation: upper bound -> cumulative count.
    gc_buckets: dict[float, float] = field(default_factory=dict)


def parse_metrics(text: str) -> WorkerMetrics:
    """Return the figures the bench follows from a worker's /metrics text."""
    entries = commands = audited = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "vigil_watchlist_entries":
                entries += s.value
            elif s.name == "vigil_watchlist_commands_total":
                commands += s.value
            elif s.name == "vigil_audit_events_total" and s.labels.get("type") == \
                    "watchlist_change":
                audited += s.value
            elif s.name == "vigil_gc_pause_seconds_bucket":
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + s.value
    return WorkerMetrics(entries, commands, audited, buckets)


def gc_max_pause_s(before: dict[float, float], after: dict[float, float]) -> float | None:
    """Return the upper bound of the histogram bucket that holds the longest pause observed
    between two readings of `vigil_gc_pause_seconds` (cumulative buckets), or None when no
    collection ran in between. The histogram keeps no maximum: the bound is all it allows
    (`inf` when a pause was longer than the largest finite bound)."""
    if not after:
        return None
    total = after.get(math.inf, 0.0) - before.get(math.inf, 0.0)
    if total <= 0:
        return None
    for le in sorted(after):
        if after[le] - before.get(le, 0.0) >= total:
            return le
    return math.inf


def parse_status(text: str) -> dict[str, int]:
    """Return the memory lines of /proc/<pid>/status (`VmRSS`, `VmHWM`, ...) in bytes."""
    out = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if name.startswith("Vm") and len(parts) == 2 and parts[1] == "kB":
            out[name] = int(parts[0]) * 1024
    return out


def loaded_from_log(text: str) -> tuple[int, float] | None:
    """Return (entries, seconds) of the last `watchlist loaded` line of a worker log: how
    long its watchlist reader took to read the topic, without the process's own start."""
    found = _LOADED.findall(text)
    return (int(found[-1][0]), float(found[-1][1])) if found else None


def rss_bytes_per_entry(rss_with_entries: int, rss_empty: int, entries: int) -> float:
    """Return a worker's memory per watchlist entry: its RSS holding `entries` minus its RSS
    holding none, over `entries`."""
    if entries <= 0:
        raise ValueError("entries must be positive")
    return (rss_with_entries - rss_empty) / entries


def p99(values: Sequence[float]) -> float | None:
    """Return the 99th percentile (linear interpolation, as `vigil loadtest bench`), or None
    for no values."""
    return float(np.percentile(np.asarray(values, dtype=float), 99)) if len(values) else None


def in_window(latencies: Sequence[tuple[float, float]], start_ms: float, end_ms: float
              ) -> list[float]:
    """Return the latencies of the (observed ms, latency) pairs observed in [start, end]."""
    return [lat for observed, lat in latencies if start_ms <= observed <= end_ms]


def goals_met(result: dict[str, Any]) -> dict[str, bool]:
    """Compare the result with issue 19's goals; a figure that is missing meets none."""
    met = {}
    for name, (op, bound) in GOALS.items():
        value = result.get(name)
        met[name] = value is not None and (value <= bound if op == "<=" else value >= bound)
    return met


def rounded(value: float | None, digits: int = 4) -> float | None:
    """Round a figure for the JSON (None and inf stay as they are: inf is written as None)."""
    if value is None or math.isinf(value):
        return None
    return round(value, digits)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and abs(value) >= 100:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def summary(result: dict[str, Any]) -> str:
    """Return the run in a few lines: each figure, its goal and whether it was met."""
    lines = [f"watchlist-bench: {result['entries']:,} entries, commit {result.get('commit')}, "
             f"load average {result['load_average']['start'][0]:.2f} at start, "
             f"{result['load_average']['end'][0]:.2f} at end"]
    for name in FIELDS[1:]:
        goal = GOALS.get(name)
        mark = ""
        if goal is not None:
            mark = (f"  goal {goal[0]} {_fmt(float(goal[1]))}: "
                    f"{'met' if result['goals_met'][name] else 'NOT met'}")
        lines.append(f"  {name:<26} {_fmt(result[name]):>12}{mark}")
    lines += [f"  note: {n}" for n in result["notes"]]
    return "\n".join(lines)
