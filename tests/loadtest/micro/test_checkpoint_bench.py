"""`vigil loadtest checkpoint-bench` measures every figure it names (no speed bar)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tables.checkpoint import Stale, read_checkpoint


def test_checkpoint_bench_writes_every_figure_and_a_readable_checkpoint(tmp_path: Path) -> None:
    out, folder = tmp_path / "bench.json", tmp_path / "state"
    subprocess.run([sys.executable, "-m", "cli.main", "loadtest", "checkpoint-bench",
                    "--entries", "1e4", "--repeats", "1", "--folder", str(folder),
                    "--json", str(out)], check=True, capture_output=True, timeout=300)
    doc = json.loads(out.read_text())
    assert len(doc["load_average"]) == 3
    result = doc["result"]
    assert result["entries"] == 10_000 and 65 < result["bytes_per_entry"] < 120
    for field in ("copy_s", "crc32_s", "write_s", "fsync_free_write_s", "loop_stall_ms",
                  "idle_loop_stall_ms", "read_hot_s", "readinto_hot_s", "read_cold_s"):
        assert result[field] >= 0, field
    got = read_checkpoint(folder, {"partitions": 2})
    assert not isinstance(got, Stale), got
    assert sum(a.nbytes for a in got[1].values()) == result["bytes"]
