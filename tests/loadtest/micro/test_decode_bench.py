"""`vigil loadtest decode-bench` times both decoders on both workloads and compares their
verdicts (no speed bar: speed is measured, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from loadtest.micro.decode_bench import mixed_commands
from schemas.rejection import Rejected
from schemas.watchlist import WatchlistDelete, WatchlistEntry, decode_watchlist_command


def test_decode_bench_writes_both_workloads(tmp_path: Path) -> None:
    out = tmp_path / "decode.json"
    subprocess.run([sys.executable, "-m", "cli.main", "loadtest", "decode-bench",
                    "--records", "3000", "--repeats", "1", "--json", str(out)],
                   check=True, capture_output=True, timeout=300)
    doc = json.loads(out.read_text())
    assert [r["workload"] for r in doc["results"]] == ["mac-upserts", "mix"]
    for r in doc["results"]:
        assert r["records"] == 3000 and r["verdicts_identical"] is True
        for field in ("per_record_per_s", "batch_per_s", "parse_only_per_s", "speedup"):
            assert r[field] > 0, field
    assert len(doc["load_average_before"]) == 3


def test_the_mix_holds_every_subject_type_and_deletes_all_accepted() -> None:
    values, keys, stamps = mixed_commands(2000)
    judged = [decode_watchlist_command(v, k, t, 90)  # type: ignore[arg-type]
              for v, k, t in zip(values, keys, stamps, strict=True)]
    assert not [c for c in judged if isinstance(c, Rejected)]
    kinds = {(c.subject_type, c.kind, c.match) for c in judged if isinstance(c, WatchlistEntry)}
    assert kinds == {("device", "mac", "exact"), ("plate", "", "exact"),
                     ("plate", "", "ocr-tolerant"), ("document", "national_id", "exact"),
                     ("document", "passport", "exact")}
    assert any(isinstance(c, WatchlistDelete) for c in judged)
