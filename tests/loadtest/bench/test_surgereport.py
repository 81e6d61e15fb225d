"""Before/during/after figures of a surge, from a synthetic timeline."""

from __future__ import annotations

from loadtest.bench.surgereport import surge_figures, surge_markdown
from loadtest.traffic.surge import Surge

MIB = 2**20
SURGE = Surge(factor=4, at_s=10.0, for_s=10.0)
NORMAL = 1000.0  # records/s; "drained" is a lag of at most 1,000 records


def _row(t_s: float, lag: float, rss_mib: float, sent: float, processed: float) -> dict:
    return {"t_s": t_s, "sent_records_per_s": sent, "processed_records_per_s": processed,
            "lag_records": lag, "worker_rss_bytes": float(rss_mib * MIB)}


def _rows() -> list[dict]:
    rows = []
    for i in range(1, 91):  # every 0.5 s up to 45 s; traffic until 40 s
        t = i / 2
        if t < 2:  # the worker has not joined its group yet: a lag, small at first
            rows.append(_row(t, 500 * t, 100, NORMAL, 0))
        elif t < 10:
            rows.append(_row(t, 200, 100, NORMAL, NORMAL))
        elif t < 20:  # the surge: 4,000 sent, 2,000 taken in a second
            rows.append(_row(t, 200 + 2000 * (t - 10), 160, 4 * NORMAL, 2 * NORMAL))
        else:  # drains at 2,000 records/s net, then holds a small lag
            rows.append(_row(t, max(300.0, 20200 - 2000 * (t - 20)), 150,
                             NORMAL if t <= 40 else 0, 3 * NORMAL if t < 30 else NORMAL))
    return rows


def _latencies() -> list[tuple[float, float]]:
    before = [(t / 10, 5.0 if t < 20 else 0.2) for t in range(0, 100)]  # 5 s at start-up
    during = [(10 + t / 10, 1.0 + t / 100) for t in range(100)]
    after = [(20 + t / 10, 2.0 if t < 100 else 0.3) for t in range(200)]
    return before + during + after


def test_each_phase_gets_its_rows_and_hits() -> None:
    s = surge_figures(_rows(), _latencies(), SURGE, duration_s=40.0, normal_records_per_s=NORMAL)
    assert (s["factor"], s["surge_records_per_s"], s["drained_lag_records"]) == (4, 4000.0, 1000.0)
    # Start-up (the first 2 s, nothing taken in yet) is not "before the surge", even with a
    # small lag: that starts once the worker has taken records in and caught up.
    assert s["settled_at_s"] == 2.0 and s["before"]["from_s"] == 2.0
    assert s["before"]["peak_lag_records"] == 200.0
    assert s["during"]["peak_lag_records"] == 200 + 2000 * 9.5
    assert s["during"]["sent_records_per_s"] == 4000.0
    assert s["during"]["processed_records_per_s"] == 2000.0
    assert s["after"]["sent_records_per_s"] == 1000.0  # the rows after 40 s sent nothing
    assert (s["before"]["hits"], s["during"]["hits"], s["after"]["hits"]) == (80, 100, 200)
    assert s["before"]["latency_p99_s"] == 0.2  # start-up hits (before 2 s) left out
    assert s["during"]["latency_p99_s"] == 1.9801
    assert s["after"]["latency_p99_s"] == 2.0
    # Latency recovers: the last 20 s of traffic (from 20 s) hold the drain's 2 s hits, so
    # its p99 is theirs; the hits of the last 10 s alone were at 0.3 s.
    assert s["last_window_latency_p99_s"] == 2.0
    assert s["before"]["worker_max_rss_bytes"] == 100 * MIB
    assert s["during"]["worker_max_rss_bytes"] == 160 * MIB
    assert s["rss_growth_during_bytes"] == 60 * MIB


def test_drained_counts_from_the_end_of_the_surge_to_the_first_small_lag() -> None:
    s = surge_figures(_rows(), _latencies(), SURGE, duration_s=40.0, normal_records_per_s=NORMAL)
    # 20,200 - 2,000 × (t - 20) <= 1,000 first at t = 29.6, so at the row of 30.0 s.
    assert s["drained_after_s"] == 10.0
    lines = "\n".join(surge_markdown(s))
    assert "| during | 10.0 s | 4,000 | 2,000 | 19,200 | 100 | 1,980 ms | 160 MiB |" in lines
    assert "10.0 s after the surge ended" in lines and "+60.0 MiB" in lines


def test_a_lag_that_never_drains_is_reported_as_such() -> None:
    rows = [r if r["t_s"] < 20 else {**r, "lag_records": 50_000.0} for r in _rows()]
    s = surge_figures(rows, [], SURGE, duration_s=40.0, normal_records_per_s=NORMAL)
    assert s["drained_after_s"] is None
    assert s["during"]["latency_p99_s"] is None and s["last_window_latency_p99_s"] is None
    assert "NEVER" in "\n".join(surge_markdown(s))
