"""Micro-benchmark of the watchlist checkpoint file (tables/checkpoint.py) on this disk.

`vigil loadtest checkpoint-bench [--entries 1e7] [--folder PATH] [--json PATH]`

The arrays stand for a watchlist of `--entries` entries held as columns: four uint64 and
two uint32 per entry, a 25-byte-per-entry uint8 arena, and an open-addressing table of
uint64 slots at most half full (about 92 bytes per entry in all). Measured, best of
`--repeats`:

- `copy_s`: copying every array, what the worker does on the event loop before handing
  the copies to a writer thread;
- `write_s`: `write_checkpoint` (CRC-32, write, fsync, rename, folder fsync), over an
  existing checkpoint; `loop_stall_ms`: the longest a 5 ms timer on the event loop was
  late while the same write ran in `asyncio.to_thread` (`idle_loop_stall_ms`: the same
  while the thread only slept, the shared machine's own noise);
- `read_hot_s` / `read_cold_s`: `read_checkpoint` with the file in the page cache, and
  after the file alone was dropped from it (posix_fadvise DONTNEED: no machine-wide cache
  drop on a shared machine);
- baselines in the same run: `crc32_s` (CRC-32 of every array, in memory),
  `readinto_hot_s` (the whole file into one preallocated buffer, no checks), `fsync_free_write_s`
  (the same bytes written without fsync: what durability costs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from loadtest.harness.timing import best_s
from schemas.json import dumps
from tables.checkpoint import FILE_NAME, Stale, read_checkpoint, write_checkpoint

HEADER = {"topic": "vigil.watchlist", "partitions": 2}


def watchlist_arrays(entries: int, seed: int = 1) -> dict[str, np.ndarray]:
    """Return random columns of the size a watchlist of `entries` entries holds."""
    rng = np.random.default_rng(seed)
    slots = 1 << max(1, (2 * entries - 1).bit_length())
    arrays = {f"u64_{i}": rng.integers(0, 2**63, entries, dtype=np.uint64) for i in range(4)}
    arrays |= {f"u32_{i}": rng.integers(0, 2**32, entries, dtype=np.uint32) for i in range(2)}
    arrays["arena"] = rng.integers(0, 256, 25 * entries, dtype=np.uint8)
    arrays["table"] = rng.integers(0, 2**63, slots, dtype=np.uint64)
    return arrays


def _drop_from_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # clean pages: fsync'd at write
    finally:
        os.close(fd)


def _read(folder: Path) -> None:
    if isinstance(got := read_checkpoint(folder, HEADER), Stale):
        raise RuntimeError(f"the checkpoint just written reads as stale: {got.reason}")


def _read_cold(folder: Path) -> float:
    _drop_from_page_cache(folder / FILE_NAME)
    started = time.perf_counter()
    _read(folder)
    return time.perf_counter() - started


def _readinto(path: Path) -> None:
    buf = np.empty(path.stat().st_size, np.uint8)
    with path.open("rb", buffering=0) as f:
        view, done = memoryview(buf), 0
        while done < buf.size:
            done += f.readinto(view[done:])


def _write_unsynced(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    with (folder / "unsynced.bin").open("wb") as f:
        for arr in arrays.values():
            f.write(arr.reshape(-1).view(np.uint8))


async def _loop_stall_ms(work: Callable[[], object]) -> float:
    """Return how late a 5 ms timer got at worst while a thread ran `work`."""
    worst = 0.0
    working = asyncio.ensure_future(asyncio.to_thread(work))
    while not working.done():
        started = time.perf_counter()
        await asyncio.sleep(0.005)
        worst = max(worst, time.perf_counter() - started - 0.005)
    await working
    return worst * 1000


def bench(entries: int, folder: Path, repeats: int) -> dict:
    """Measure one size in `folder`; return the result object."""
    arrays = watchlist_arrays(entries)
    nbytes = sum(a.nbytes for a in arrays.values())
    write_checkpoint(folder, HEADER, arrays)  # so every timed write replaces one
    write_s = best_s(lambda: write_checkpoint(folder, HEADER, arrays), repeats)
    result = {
        "entries": entries, "bytes": nbytes, "bytes_per_entry": nbytes / entries,
        "copy_s": best_s(lambda: {k: a.copy() for k, a in arrays.items()}, repeats),
        "crc32_s": best_s(lambda: [zlib.crc32(a.reshape(-1).view(np.uint8))
                                    for a in arrays.values()], repeats),
        "write_s": write_s,
        "fsync_free_write_s": best_s(lambda: _write_unsynced(folder, arrays), repeats),
        "loop_stall_ms": max(asyncio.run(_loop_stall_ms(
            lambda: write_checkpoint(folder, HEADER, arrays))) for _ in range(repeats)),
        # The same timer while the thread only sleeps as long: the machine's own noise.
        "idle_loop_stall_ms": max(asyncio.run(_loop_stall_ms(
            lambda: time.sleep(write_s))) for _ in range(repeats)),
        "read_hot_s": best_s(lambda: _read(folder), repeats),
        "readinto_hot_s": best_s(lambda: _readinto(folder / FILE_NAME), repeats),
        "read_cold_s": min(_read_cold(folder) for _ in range(repeats)),
    }
    (folder / "unsynced.bin").unlink(missing_ok=True)
    return result


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of `vigil loadtest checkpoint-bench` to `p`."""
    p.add_argument("--entries", type=float, default=1e7, help="watchlist entries (1e7)")
    p.add_argument("--folder", type=Path,
                   help="where to write (default: a new temporary folder, removed after)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, help="write the results here")


def main(args: argparse.Namespace) -> int:
    """Run `vigil loadtest checkpoint-bench` with parsed options."""
    folder = args.folder or Path(tempfile.mkdtemp(prefix="vigil-checkpoint-bench-"))
    try:
        result = bench(int(args.entries), folder, args.repeats)
    finally:
        if args.folder is None:
            shutil.rmtree(folder, ignore_errors=True)
    doc = {"benchmark": "checkpoint-bench", "machine": platform.machine(),
           "python": platform.python_version(), "load_average": os.getloadavg(),
           "result": result}
    print(dumps(doc).decode())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(dumps(doc) + b"\n")
    return 0
