"""`vigil loadtest bench --quick` end to end: a worker, all four streams, the baseline; and
with `--scoped-share`, the scoped run beside the unscoped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from loadtest.traffic.traffic import STREAMS
from schemas.json import loads

pytestmark = pytest.mark.integration

TOP_LEVEL = ("duration_s", "target_records_per_s", "sustained_records_per_s", "latency_p50_s",
             "latency_p99_s", "latency_p999_s", "expected_hits", "received_hits", "missed_hits",
             "unexpected_hits", "duplicate_hits", "worker_max_rss_bytes",
             "baseline_records_per_s")
PER_STREAM = ("target_records_per_s", "sustained_records_per_s", "latency_p50_s",
              "latency_p99_s", "latency_p999_s", "expected_hits", "received_hits", "missed_hits",
              "unexpected_hits", "duplicate_hits")


@pytest.fixture
def bench(bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture):
    """Run `vigil loadtest bench --quick` with more options against the test broker; return
    its JSON result and printed summary, having checked that it exited 0."""
    monkeypatch.setenv("VIGIL_BOOTSTRAP", bootstrap)

    def run(*options: str) -> tuple[dict[str, Any], str]:
        out = tmp_path / "bench.json"
        status = main(["loadtest", "bench", "--quick", *options, "--json", str(out),
                       "--results", str(tmp_path / "results")])
        summary = capsys.readouterr().out
        assert status == 0, summary
        return loads(out.read_bytes()), summary

    return run


@pytest.mark.timeout(240)
def test_quick_bench_runs_end_to_end_with_every_field_and_no_missed_hit(
        bench, tmp_path: Path) -> None:
    result, summary = bench()
    assert set(TOP_LEVEL) <= result.keys()
    assert result["missed_hits"] == 0 and result["passed"] is True
    assert result["received_hits"] == result["expected_hits"] > 0
    for stream in STREAMS:
        assert set(PER_STREAM) <= result[stream].keys(), stream
        assert result[stream]["expected_hits"] > 0, stream
        assert result[stream]["missed_hits"] == 0, stream
    assert result["worker_max_rss_bytes"] > 10 << 20
    assert result["baseline_records_per_s"] > 0
    assert result["latency_p50_s"] <= result["latency_p99_s"] <= result["latency_p999_s"]
    (folder,) = (tmp_path / "results").iterdir()
    assert (folder / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert loads((folder / "result.json").read_bytes())["expected_hits"] == result[
        "expected_hits"]
    assert "| sensing_binary |" in summary and "Vigil bench: PASSED" in summary


@pytest.mark.timeout(300)
def test_a_scoped_run_reports_its_rate_beside_the_unscoped_with_no_wrong_hit(bench) -> None:
    result, summary = bench("--duration", "4", "--scoped-share", "0.2",
                            "--watchlist-size", "2000", "--hit-rate", "0.02",
                            "--rate-sensing-binary", "5000", "--rate-sensing-json", "1000",
                            "--rate-plates", "500", "--rate-checkins", "500", "--no-baseline")
    scoped = result["scoped"]
    assert result["traffic"]["scoped_share"] == 0 and scoped["traffic"]["scoped_share"] == 0.2
    assert result["out_of_scope_planted"] == result["worker_out_of_scope_counted"] == 0
    assert scoped["out_of_scope_planted"] > 0, "sightings outside their entry's scope were sent"
    assert scoped["worker_out_of_scope_counted"] == scoped["out_of_scope_planted"]
    for run in (result, scoped):
        assert run["missed_hits"] == run["unexpected_hits"] == run["duplicate_hits"] == 0
        assert run["received_hits"] == run["expected_hits"] > 0 and run["passed"]
        assert run["worker_records_per_cpu_s"] > 0 and len(run["load_average"]["end"]) == 3
    cost = result["scope_cost"]
    assert cost["scoped_share"] == 0.2 and cost["cpu_cost"] is not None
    assert cost["scoped_records_per_s"] == scoped["sustained_records_per_s"] > 0
    assert "Scoped entries: 20% of the entries scoped" in summary
    assert "Vigil bench: PASSED" in summary
