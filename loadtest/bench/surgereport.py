"""Figures of a bench run with a surge: before, during and after it.

From the run's timeline (per-interval rates, lag, RSS) and the hits read back: the peak lag
of each phase, how long after the surge the lag drained, latency p99 of the hits observed
in each phase and in the last seconds of traffic (does latency recover?), and the worker's
largest RSS in each phase (does memory stay bounded while the backlog is in the broker?).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from loadtest.traffic.surge import Surge

PHASES = ("before", "during", "after")
# "Latency recovers" is judged on the hits observed in the last this many seconds of traffic.
RECOVERY_WINDOW_S = 20.0
# Lag counts as drained at or below this many seconds of traffic at the normal rate: records
# in flight between sender, broker and worker always show as some lag.
DRAINED_LAG_S = 1.0


def _p99(values: Sequence[float]) -> float | None:
    return round(float(np.percentile(values, 99)), 4) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 1) if values else None


def _phase(rows: list[dict], latencies: list[tuple[float, float]], start_s: float,
           end_s: float, traffic_end_s: float) -> dict[str, Any]:
    """Return one phase's figures: rows whose interval ends in [start_s, end_s), hits
    observed in it; rates only while traffic was still being sent."""
    inside = [r for r in rows if start_s <= r["t_s"] < end_s]
    sending = [r for r in inside if r["t_s"] <= traffic_end_s]
    observed = [lat for t, lat in latencies if start_s <= t < end_s]
    return {
        "from_s": round(start_s, 2),
        "sent_records_per_s": _mean([r["sent_records_per_s"] for r in sending]),
        "processed_records_per_s": _mean([r["processed_records_per_s"] for r in sending]),
        "peak_lag_records": max((r["lag_records"] for r in inside), default=None),
        "hits": len(observed),
        "latency_p99_s": _p99(observed),
        "worker_max_rss_bytes": max((int(r["worker_rss_bytes"]) for r in inside), default=None),
    }


def surge_figures(rows: list[dict], latencies: list[tuple[float, float]], surge: Surge,
                  duration_s: float, normal_records_per_s: float) -> dict[str, Any]:
    """Return the `surge` object of the bench result.

    `rows` is the run's timeline (`loadtest.report.timeline`); `latencies` holds, per hit
    expected and read back, (observed time in seconds since the traffic started, latency
    in seconds). "Before" starts once the worker, having taken in records, first caught up
    with the traffic (it joins its consumer group a few seconds into the run, and the lag
    before that is start-up, not overload).
    """
    threshold = normal_records_per_s * DRAINED_LAG_S
    settled_at = next((r["t_s"] for r in rows
                       if r["t_s"] < surge.at_s and r["processed_records_per_s"] > 0
                       and r["lag_records"] <= threshold), None)
    bounds = {"before": (settled_at if settled_at is not None else 0.0, surge.at_s),
              "during": (surge.at_s, surge.end_s), "after": (surge.end_s, float("inf"))}
    phases = {name: _phase(rows, latencies, *bounds[name], duration_s) for name in PHASES}
    drained = next((r["t_s"] for r in rows
                    if r["t_s"] >= surge.end_s and r["lag_records"] <= threshold), None)
    recent = [lat for t, lat in latencies if duration_s - RECOVERY_WINDOW_S <= t]
    rss_before = phases["before"]["worker_max_rss_bytes"]
    rss_during = phases["during"]["worker_max_rss_bytes"]
    return {
        "factor": surge.factor, "at_s": surge.at_s, "for_s": surge.for_s,
        "normal_records_per_s": normal_records_per_s,
        "surge_records_per_s": normal_records_per_s * surge.factor,
        "settled_at_s": settled_at, "drained_lag_records": threshold,
        **phases,
        "drained_after_s": None if drained is None else round(drained - surge.end_s, 2),
        "last_window_s": RECOVERY_WINDOW_S,
        "last_window_latency_p99_s": _p99(recent),
        "rss_growth_during_bytes": (rss_during - rss_before
                                    if rss_before is not None and rss_during is not None
                                    else None),
    }


def _cell(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1000:,.0f} ms"
    if unit == "MiB":
        return f"{value / 2**20:,.0f} MiB"
    return f"{value:,.0f}"


def surge_markdown(s: dict[str, Any]) -> list[str]:
    """Return the summary's lines about the surge."""
    lines = [
        "", f"### Surge: {s['factor']:g}× from {s['at_s']:.0f} s for {s['for_s']:.0f} s "
        f"({s['normal_records_per_s']:,.0f} → {s['surge_records_per_s']:,.0f} records/s)", "",
        "| phase | from | sent rec/s | processed rec/s | peak lag (records) | hits | p99 "
        "| worker max RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in PHASES:
        p = s[name]
        lines.append(f"| {name} | {p['from_s']:.1f} s | {_cell(p['sent_records_per_s'])} "
                     f"| {_cell(p['processed_records_per_s'])} | {_cell(p['peak_lag_records'])} "
                     f"| {p['hits']:,} | {_cell(p['latency_p99_s'], 'ms')} "
                     f"| {_cell(p['worker_max_rss_bytes'], 'MiB')} |")
    drained = s["drained_after_s"]
    growth = s["rss_growth_during_bytes"]
    lines += ["",
              f"Lag drained (≤ {s['drained_lag_records']:,.0f} records) "
              + (f"{drained:.1f} s after the surge ended." if drained is not None
                 else "NEVER after the surge.")
              + f" Latency p99 of the hits observed in the last {s['last_window_s']:.0f} s: "
              f"{_cell(s['last_window_latency_p99_s'], 'ms')}. Worker RSS during the surge "
              f"vs before: {'-' if growth is None else f'{growth / 2**20:+,.1f} MiB'}."]
    return lines
