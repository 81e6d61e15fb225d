"""Figures from raw measurements: rates, catch-up, hit accounting per stream, latency."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from loadtest.bench.benchconfig import QUICK
from loadtest.bench.report import Measurement, Sample, markdown, plot, stream_of_hit, summarize
from loadtest.harness.probes import HitSeen
from loadtest.traffic.groundtruth import ExpectedHit
from loadtest.traffic.sender import StreamSent
from loadtest.traffic.surge import Surge

T0 = 1_795_000_000_000.0


def _sample(t_s: float, binary: float, plates: float) -> Sample:
    return Sample(T0 + t_s * 1000, {"records_in/sensing/binary": binary,
                                    "records_in/plate/json": plates}, t_s * 0.5, 50 << 20, 0)


def _measurement() -> Measurement:
    binary = StreamSent("sensing_binary", sends=[(int(T0) + 1000 * i, 1000, 999)
                                                 for i in range(4)],
                        expected=[ExpectedHit("h-1", "W-1", "S-000001", int(T0), "exact",
                                              "sensing_binary"),
                                  ExpectedHit("h-2", "W-1", "S-000001", int(T0) + 1000, "exact",
                                              "sensing_binary")],
                        ack_ms=[5.0, 7.0])
    plates = StreamSent("plates", sends=[(int(T0), 200, 200)],
                        expected=[ExpectedHit("h-3", "W-2", "C-0001", int(T0), "exact",
                                              "plates")])
    hits = [HitSeen("h-1", "sensing", "S-000001", int(T0), T0 + 100),
            HitSeen("h-1", "sensing", "S-000001", int(T0), T0 + 900),  # a duplicate
            HitSeen("h-3", "plate", "C-0001", int(T0), T0 + 300),
            HitSeen("h-9", "plate", "C-0002", int(T0), T0 + 300)]  # unexpected
    samples = [_sample(-0.5, 0, 0), _sample(2, 1998, 200), _sample(4, 3996, 200),
               _sample(8, 3996, 200)]
    return Measurement(cfg=QUICK, sent=[binary, plates], hits=hits, samples=samples,
                       started_ms=T0, finished_ms=T0 + 4000, baseline={"records_per_s": 400.0},
                       watchlist_entries=3, worker_ready_s=1.0, setup_s=2.0,
                       embedded_broker=True, one_record_per_batch=True,
                       joins=[{"joined_at_s": 1.0, "ready_s": 5.0}])


def test_summary_counts_hits_per_stream_and_rates_until_caught_up(tmp_path: Path) -> None:
    r = summarize(_measurement(), "vigil loadtest bench --quick")
    # h-2 is within 300 s of h-1 at the same sensor: suppressed, so not expected.
    assert (r["expected_hits"], r["received_hits"], r["missed_hits"], r["unexpected_hits"],
            r["duplicate_hits"]) == (2, 4, 0, 1, 1)
    assert r["sensing_binary"]["duplicate_hits"] == 1
    assert r["plates"]["unexpected_hits"] == 1 and r["checkins"]["expected_hits"] == 0
    assert r["caught_up"] and not r["passed"]
    # 4,200 records sent over 4 s; the worker had them all at the 4 s sample.
    assert r["sent_records_per_s"] == 1050.0 and r["sustained_records_per_s"] == 1050.0
    assert r["latency_p50_s"] == 0.2  # first reads: 0.1 s and 0.3 s
    assert r["baseline_records_per_s"] == 400.0
    assert r["binary_to_baseline_ratio"] == 2.5  # 4,000 binary records in 4 s, / 400
    assert r["timeline"][0]["sent_records_per_s"] == 1280.0  # 3,200 records in (-0.5 s, 2 s]
    text = markdown(r, tmp_path)
    assert "Vigil bench: FAILED" in text and "worker 2 joined at 1.0 s" in text
    plot(r, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_a_worker_that_never_catches_up_is_reported_at_the_share_it_took() -> None:
    m = _measurement()
    m.samples = [_sample(-0.5, 0, 0), _sample(4, 1998, 200), _sample(8, 1998, 200)]
    r = summarize(m, "bench")
    assert not r["caught_up"] and not r["passed"]
    assert r["sensing_binary"]["sustained_records_per_s"] == 250.0  # half of 4,000 over 8 s


def test_stream_of_hit() -> None:
    assert stream_of_hit("sensing", "S-000042") == "sensing_binary"
    assert stream_of_hit("sensing", "S-500042") == "sensing_json"
    assert stream_of_hit("plate", "C-0001") == "plates"
    assert stream_of_hit("checkin", "P-00001") == "checkins"


def test_a_surge_run_adds_its_phases_and_fails_when_the_lag_has_not_drained(
        tmp_path: Path) -> None:
    m = _measurement()
    m.hits = [m.hits[0], m.hits[2]]  # every expected hit once, nothing else: a passing run
    rates = {"sensing_binary": 100, "plates": 10}  # "drained": a lag of 110 records at most
    m.cfg = replace(QUICK, rates=rates, surge=Surge(factor=2, at_s=1.0, for_s=1.0))
    r = summarize(m, "vigil loadtest overload")
    # Rows end at 2, 4 and 8 s; at 2 s 3,197 valid records were sent, 2,198 taken in.
    assert r["surge"]["during"]["peak_lag_records"] is None  # no row ends inside (1 s, 2 s)
    assert r["surge"]["after"]["peak_lag_records"] == 999.0
    assert r["surge"]["drained_after_s"] == 2.0 and r["passed"]
    assert "### Surge: 2× from 1 s for 1 s" in markdown(r, tmp_path)
    plot(r, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
    # A surge still going at the last sample: caught up, but the drain was never seen.
    m.cfg = replace(m.cfg, surge=Surge(factor=2, at_s=1.0, for_s=100.0))
    r = summarize(m, "vigil loadtest overload")
    assert r["caught_up"] and r["surge"]["drained_after_s"] is None and not r["passed"]


def test_without_a_surge_the_result_has_no_surge_figures() -> None:
    assert "surge" not in summarize(_measurement(), "vigil loadtest bench --quick")


def test_hits_the_worker_counted_come_from_its_last_sample(tmp_path: Path) -> None:
    m = _measurement()
    last = m.samples[-1]
    m.samples[-1] = replace(last, counters={**last.counters, "hits/sensing": 2.0,
                                            "hits/plate": 1.0})
    r = summarize(m, "bench")
    assert r["worker_hits_counted"] == 3.0
    assert "counted as sent: 3;" in markdown(r, tmp_path)


def test_hits_are_counted_from_the_complete_read_and_timed_from_the_live_one() -> None:
    m = _measurement()
    live = [h for h in m.hits if h.hit_id != "h-3"]  # the live reader skipped h-3
    m.all_hits, m.hits = m.hits, live
    r = summarize(m, "bench")
    assert r["missed_hits"] == 0 and r["plates"]["missed_hits"] == 0
    assert r["hits_skipped_live"] == 1
    assert r["latency_p50_s"] == 0.1  # h-1 only: h-3 has no live read time
    m.all_hits = None  # without a complete read, the live one is all there is
    assert summarize(m, "bench")["missed_hits"] == 1


def _passing(cpu_per_s: float, out_of_scope: int, counted: float) -> Measurement:
    """A run without a wrong hit whose worker used `cpu_per_s` CPU seconds a second and
    counted `counted` matches out of scope, `out_of_scope` of them planted."""
    m = _measurement()
    m.hits = [m.hits[0], m.hits[2]]  # h-1 once and h-3: what was expected
    m.sent[0].out_of_scope = out_of_scope
    m.samples = [replace(s, cpu_s=(s.t_ms - T0) / 1000 * cpu_per_s,
                         counters={**s.counters, "out_of_scope/sensing": counted})
                 for s in m.samples]
    return m


def test_a_scoped_run_reports_its_rate_beside_the_unscoped_and_the_cost_per_cpu_second(
        tmp_path: Path) -> None:
    m = _passing(0.5, 0, 0.0)
    m.load_average = {"start": [1.0, 1.0, 1.0], "end": [2.0, 1.0, 1.0]}
    m.scoped = _passing(0.55, 7, 7.0)
    m.scoped.cfg = replace(QUICK, spec=replace(QUICK.spec, scoped_share=0.1))
    r = summarize(m, "bench --scoped-share 0.1")
    assert r["passed"] and r["scoped"]["passed"]
    assert r["scoped"]["out_of_scope_planted"] == r["scoped"]["worker_out_of_scope_counted"] == 7
    # 4,200 records; CPU from the 2 s sample to the 8 s one: 3 s, then 3.3 s.
    cost = r["scope_cost"]
    assert (cost["unscoped_records_per_cpu_s"], cost["scoped_records_per_cpu_s"]) == (1400.0,
                                                                                     1272.7)
    assert cost["cpu_cost"] == 0.0909 and cost["goal_met"] and cost["rate_ratio"] == 1.0
    assert cost["scoped_share"] == 0.1
    text = markdown(r, tmp_path)
    assert "Scope checks cost 9.1% of the records per worker CPU second" in text
    assert "| scoped | 1,050 | 1,050 |" in text and "[1.0, 1.0, 1.0] at start" in text
    m.scoped = _passing(0.75, 7, 7.0)  # half as much CPU again per record
    assert not summarize(m, "bench")["scope_cost"]["goal_met"]


def test_an_out_of_scope_match_the_worker_did_not_count_fails_the_run() -> None:
    m = _passing(0.5, 0, 0.0)
    assert summarize(m, "bench")["passed"]
    m.scoped = _passing(0.5, 7, 6.0)
    r = summarize(m, "bench")
    assert not r["scoped"]["passed"] and not r["passed"]
