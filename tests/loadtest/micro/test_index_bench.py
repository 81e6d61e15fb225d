"""`vigil loadtest index-bench` writes every field the issue names, per size (no speed bar)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_index_bench_writes_one_result_per_size(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, "-m", "cli.main", "loadtest", "index-bench",
                    "--sizes", "1e3,5e3", "--probes", "2e4", "--json", str(out)],
                   check=True, capture_output=True, timeout=300)
    results = json.loads(out.read_text())["results"]
    assert [r["entries"] for r in results] == [1000, 5000]
    for r in results:
        for field in ("probes_per_s", "set_probes_per_s", "build_s", "upsert_us", "delete_us"):
            assert r[field] > 0, field
        # Every array of the index (ids included), at sizes where the minimum table sizes
        # weigh most: about 100 bytes an entry at 10^6 and more.
        assert 40 <= r["bytes_per_entry"] < 256
        assert 8 <= r["table_bytes_per_entry"] < r["bytes_per_entry"]
        growth = r["growth"]
        assert growth["entries"] <= r["entries"]
        for field in ("in_place_apply_s", "in_place_loop_late_s", "meanwhile_apply_s",
                      "meanwhile_loop_late_s"):
            assert growth[field] >= 0, field
