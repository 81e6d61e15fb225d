"""`vigil loadtest bench --quick` end to end: a worker, all four streams, the baseline."""

from __future__ import annotations

from pathlib import Path

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


@pytest.mark.timeout(240)
def test_quick_bench_runs_end_to_end_with_every_field_and_no_missed_hit(
        bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("VIGIL_BOOTSTRAP", bootstrap)
    out = tmp_path / "bench.json"
    status = main(["loadtest", "bench", "--quick", "--json", str(out),
                   "--results", str(tmp_path / "results")])
    result = loads(out.read_bytes())
    summary = capsys.readouterr().out
    assert status == 0, summary
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
