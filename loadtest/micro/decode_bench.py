"""Micro-benchmark of decoding watchlist commands: a batch at a time against one at a time.

`vigil loadtest decode-bench [--records 1e6] [--batch 1000] [--repeats 5] [--json PATH]`

Both decoders judge the same records, as the worker's watchlist reader fetches them
(value, key, Kafka timestamp; batches of `--batch`, its `max_records`): the MAC upserts
`vigil loadtest watchlist-bench` writes, then a mix with plates, documents and deletes.
`orjson.loads` of every value alone is timed too: the floor of any decoder that parses
JSON. Each time is the best of several repetitions, taken in turn in the same run (the
machine is shared and noisy); the load average is reported with them. The verdicts of the two
decoders are compared record by record.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from loadtest.bench.watchlist_bench_io import BULK_MAC_BASE, numbered_entries
from schemas.json import dumps, loads_each
from schemas.normalize import gb11643_valid
from schemas.rejection import Rejected
from schemas.watchlist import decode_watchlist_command
from schemas.watchlist_batch import decode_watchlist_batch

DAY_MS = 86_400_000
WRITTEN_MS = 1_795_000_000_000  # the Kafka timestamp of every record
EXPIRES_MS = WRITTEN_MS + 30 * DAY_MS
MAX_TTL_DAYS = 90
REPEATS = 5
# Shares of the mix (the rest are MAC upserts, numbered like the MAC workload's).
PLATE_SHARE, DOCUMENT_SHARE, DELETE_SHARE = 0.2, 0.15, 0.05
Records = tuple[list[bytes | None], list[bytes | None], list[int]]


def mac_upserts(n: int) -> Records:
    """Return n MAC upserts as the watchlist bench writes them, keyed by entry_id."""
    keys, values = zip(*numbered_entries(b"W-DB", BULK_MAC_BASE, n, EXPIRES_MS), strict=True)
    return list(values), list(keys), [WRITTEN_MS] * n


def national_ids(count: int) -> list[str]:
    """Return count valid 18-character national ids (each check character tried in turn)."""
    return [next(f"1101051985{i:07d}{c}" for c in "0123456789X"
                 if gb11643_valid(f"1101051985{i:07d}{c}")) for i in range(count)]


def _command(i: int, roll: float, national_id: str) -> dict[str, object]:
    entry_id = f"W-MIX-{i:09d}"
    common = {"op": "upsert", "entry_id": entry_id, "priority": 1 + i % 3,
              "legal_basis": f"case 2026-{i % 5000:04d}", "requested_by": f"unit-{i % 40}",
              "expires_at": EXPIRES_MS}
    if roll < PLATE_SHARE:
        return {**common, "list": "stolen-vehicles", "subject_type": "plate",
                "key": f"鲁K{i % 100000:05d}", "match": "ocr-tolerant" if i % 2 else "exact"}
    roll -= PLATE_SHARE
    if roll < DOCUMENT_SHARE:
        if i % 3:
            return {**common, "list": "wanted-persons", "subject_type": "document",
                    "doc_type": "national_id", "key": national_id}
        return {**common, "list": "wanted-persons", "subject_type": "document",
                "doc_type": "passport", "key": f"E{i % 10**8:08d}"}
    roll -= DOCUMENT_SHARE
    if roll < DELETE_SHARE:
        return {"op": "delete", "entry_id": entry_id, "requested_by": "unit-1",
                "reason": "resolved"}
    return {**common, "list": "wanted-persons", "subject_type": "device", "id_type": "mac",
            "key": f"{BULK_MAC_BASE + i:012x}"}


def mixed_commands(n: int) -> Records:
    """Return n commands of the mix, in a fixed pseudo-random order."""
    pool = national_ids(1000)
    docs = [_command(i, ((i * 2654435761) % 2**32) / 2**32, pool[i % len(pool)])
            for i in range(n)]
    return ([dumps(d) for d in docs], [str(d["entry_id"]).encode() for d in docs],
            [WRITTEN_MS] * n)


def _best_s(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Return each function's best time, running them in turn `repeats` times (so that a
    disturbance of the shared machine does not fall on one of them only)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            started = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - started)
    return best


def _chunks(records: Records, size: int) -> list[Records]:
    values, keys, stamps = records
    return [(values[i:i + size], keys[i:i + size], stamps[i:i + size])
            for i in range(0, len(values), size)]


def bench_workload(name: str, records: Records, batch: int, repeats: int) -> dict:
    """Time both decoders and the bare parse over records; return the result object."""
    values, keys, stamps = records
    chunks = _chunks(records, batch)

    # Each result is dropped when the next is made, as the reader does: kept, they would
    # make the garbage collector's work grow with the run.
    def per_record() -> None:
        for v, k, t in zip(values, keys, stamps, strict=True):
            decode_watchlist_command(v, k, t, MAX_TTL_DAYS)

    def batched() -> None:
        for v, k, t in chunks:
            decode_watchlist_batch(v, k, t, MAX_TTL_DAYS)

    def parse_only() -> None:
        for v, _, _ in chunks:
            loads_each(v)

    n = len(values)
    per_record_s, batch_s, parse_s = _best_s([per_record, batched, parse_only], repeats)
    one_by_one = [decode_watchlist_command(v, k, t, MAX_TTL_DAYS)
                  for v, k, t in zip(values, keys, stamps, strict=True)]
    judged = [b.command(i) for v, k, t in chunks
              for b in [decode_watchlist_batch(v, k, t, MAX_TTL_DAYS)] for i in range(len(b))]
    return {
        "workload": name,
        "records": n,
        "per_record_per_s": n / per_record_s,
        "batch_per_s": n / batch_s,
        "parse_only_per_s": n / parse_s,
        "speedup": per_record_s / batch_s,
        "batch_us_per_record_beyond_parse": (batch_s - parse_s) / n * 1e6,
        "verdicts_identical": judged == one_by_one,
        "accepted": sum(1 for c in one_by_one if not isinstance(c, Rejected)),
    }


def run(records: int, batch: int, repeats: int) -> dict:
    """Run both workloads; return the JSON document."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = []
    for name, make in (("mac-upserts", mac_upserts), ("mix", mixed_commands)):
        r = bench_workload(name, make(records), batch, repeats)
        print(f"{name:>12}: batch {r['batch_per_s'] / 1e3:7.0f} k/s, per record "
              f"{r['per_record_per_s'] / 1e3:5.0f} k/s (x{r['speedup']:.2f}), orjson.loads "
              f"alone {r['parse_only_per_s'] / 1e3:5.0f} k/s; verdicts identical: "
              f"{r['verdicts_identical']}", flush=True)
        results.append(r)
    load_after = [round(x, 2) for x in os.getloadavg()]
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}, "
          f"{os.cpu_count()} cores")
    return {"benchmark": "decode-bench", "machine": platform.machine(),
            "python": platform.python_version(), "batch": batch, "repeats": repeats,
            "load_average_before": load_before, "load_average_after": load_after,
            "cpus": os.cpu_count(), "results": results}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of `vigil loadtest decode-bench` to `p`."""
    p.add_argument("--records", type=float, default=1e6,
                   help="commands per workload (default 1e6)")
    p.add_argument("--batch", type=int, default=1000,
                   help="records per batch (default 1000, the watchlist reader's)")
    p.add_argument("--repeats", type=int, default=REPEATS,
                   help=f"timed runs of each, the best kept (default {REPEATS})")
    p.add_argument("--json", type=Path, help="write the results here")


def main(args: argparse.Namespace) -> int:
    """Run `vigil loadtest decode-bench` with parsed options; exit 1 when the verdicts of
    the two decoders differ."""
    doc = run(int(args.records), args.batch, args.repeats)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(dumps(doc) + b"\n")
        print(f"results written to {args.json}")
    return 0 if all(r["verdicts_identical"] for r in doc["results"]) else 1
