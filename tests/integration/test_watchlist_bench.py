"""`vigil loadtest watchlist-bench` at CI size: every field issue 19 names, sane values, no
missed hit, and every process it started stopped again."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from cli.main import main
from loadtest.bench.watchlist_bench_figures import EXTRA_FIELDS, FIELDS, GOALS
from schemas.json import loads

pytestmark = pytest.mark.integration

POSITIVE = ("rss_bytes_per_entry", "read_entries_per_s", "cold_start_s", "warm_start_s",
            "bulk_load_entries_per_s", "match_p99_during_load_s", "gc_max_pause_s")


def _live_children() -> set[int]:
    """Return the pids of this process's children that have not exited."""
    me, found = os.getpid(), set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


@pytest.mark.timeout(240)
def test_watchlist_bench_gives_every_field_and_stops_what_it_started(
        embedded: bool, bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    if embedded:  # the bench starts and stops a broker of its own, which is checked too
        monkeypatch.delenv("VIGIL_BOOTSTRAP", raising=False)
    else:
        monkeypatch.setenv("VIGIL_BOOTSTRAP", bootstrap)
    # The bench keeps its run folder (worker logs) for whoever ran it: here, in the test's.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = _live_children()
    out = tmp_path / "watchlist-bench.json"
    status = main(["loadtest", "watchlist-bench", "--entries", "2000", "--bulk", "500",
                   "--json", str(out)])
    summary = capsys.readouterr().out
    result = loads(out.read_bytes())
    assert status == 0, summary
    assert list(result) == [*FIELDS, *EXTRA_FIELDS]
    assert result["entries"] == 2000
    for name in POSITIVE:
        assert result[name] > 0, (name, summary)
    assert result["missed_hits"] == 0 and result["unexpected_hits"] == 0, summary
    assert result["cold_start_s"] < 120 and result["match_p99_during_load_s"] < 30
    assert set(result["goals_met"]) == set(GOALS)
    assert result["goals_met"]["missed_hits"] is True
    assert all(isinstance(v, bool) for v in result["goals_met"].values())
    assert len(result["load_average"]["start"]) == len(result["load_average"]["end"]) == 3
    assert any("watchlist checkpoint taken: 2000 entries" in n for n in result["notes"])
    assert any("observed to detected" in n for n in result["notes"])
    assert "bulk_load_entries_per_s" in summary and "goal >= 100,000" in summary
    assert _live_children() == before
