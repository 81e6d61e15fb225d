"""Micro-benchmark of the watchlist index against a plain Python set, in one run.

`vigil loadtest index-bench [--sizes 1e4,1e6,1e7] [--probes 1000000] --json PATH`

For each size: a watchlist of that many MAC entries is bulk-built; then the full batch
matcher (SipHash, probe, confirm against the entry, expiry check) runs over batches of
normalised keys of which half are watched and half are not, on one core; the baseline is
`key in set` over the same keys as Python strings. Upserts and deletes are applied one at
a time to the live index. Each time is the best of several repetitions (the least disturbed
one: the machine is shared and noisy), taken the same way for the set baseline, which is
measured in the same run for the same reason. Last, once each way, the key table's doubling
near that size, in place and grown in a thread, as a 5 ms matching timer on the event loop
sees it (loadtest/micro/index_growth.py).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from loadtest.harness.timing import best_s
from loadtest.micro.index_growth import measure_growth
from schemas.json import dumps
from tables.index import WatchlistIndex, warm_up

HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
MAC_SPACE = 1
FAR_FUTURE_MS = 4_000_000_000_000
NOW_MS = 1_795_000_000_000
REPEATS = 5
UPDATES = 20_000


def random_macs(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return n random normalised MACs as an S16 array (12 lower-case hex digits, padded)."""
    digits = HEX[rng.integers(0, 16, size=(n, 12))]
    out = np.zeros((n, 16), np.uint8)
    out[:, :12] = digits
    return out.view("S16").ravel()


def bench_size(entries: int, probes: int, seed: int) -> dict:
    """Measure one watchlist size; return its result object."""
    rng = np.random.default_rng(seed)
    # Watched keys have a '0' first digit and unwatched ones do not, so misses really miss.
    keys = random_macs(rng, entries)
    keys.view(np.uint8).reshape(entries, 16)[:, 0] = ord("0")
    misses = random_macs(rng, probes - probes // 2)
    first = misses.view(np.uint8).reshape(len(misses), 16)
    first[:, 0] = HEX[rng.integers(1, 16, size=len(misses))]
    probe_keys = np.concatenate([keys[rng.integers(0, entries, size=probes // 2)], misses])
    rng.shuffle(probe_keys)
    words = probe_keys.view(np.uint64).reshape(probes, 2)
    spaces = np.full(probes, MAC_SPACE, np.uint8)

    index = WatchlistIndex(rng.bytes(16))
    ids = [f"W-{i}" for i in range(entries)]
    expires = np.full(entries, FAR_FUTURE_MS, np.int64)
    entry_words = keys.view(np.uint64).reshape(entries, 2)
    build_s = best_s(lambda: index.build(ids, np.full(entries, MAC_SPACE, np.uint8),
                                           entry_words, expires), 1)
    bytes_per_entry = index.nbytes / entries
    table_bytes_per_entry = index.table_nbytes / entries
    index.match(spaces[:10], words[:10], NOW_MS)  # compile outside the timing
    found = []
    match_s = best_s(lambda: found.append(index.match(spaces, words, NOW_MS)[0]), REPEATS)
    # Distinct rows: two random watched MACs may be equal, and then a probe finds both.
    if len(np.unique(found[-1])) != probes // 2:
        raise AssertionError(f"index found {len(np.unique(found[-1]))} of {probes // 2} "
                             "watched keys")

    watched = set(keys.astype(str).tolist())
    probe_strs = probe_keys.astype(str).tolist()
    set_s = best_s(lambda: sum(1 for k in probe_strs if k in watched), REPEATS)

    new_keys = [bytes(k) for k in random_macs(rng, UPDATES)]
    index.upsert("warm-up", MAC_SPACE, new_keys[0], FAR_FUTURE_MS)  # compile outside timing
    index.delete("warm-up")
    new_ids = [f"N-{i}" for i in range(UPDATES)]
    started = time.perf_counter()
    for entry_id, key in zip(new_ids, new_keys, strict=True):
        index.upsert(entry_id, MAC_SPACE, key, FAR_FUTURE_MS)
    upsert_s = time.perf_counter() - started
    started = time.perf_counter()
    for entry_id in new_ids:
        index.delete(entry_id)
    delete_s = time.perf_counter() - started
    return {
        "entries": entries,
        "probes_per_batch": probes,
        "hit_share": 0.5,
        "probes_per_s": probes / match_s,
        "set_probes_per_s": probes / set_s,
        "speedup_vs_set": set_s / match_s,
        "build_s": build_s,
        "upsert_us": upsert_s / UPDATES * 1e6,
        "delete_us": delete_s / UPDATES * 1e6,
        "bytes_per_entry": bytes_per_entry,
        "table_bytes_per_entry": table_bytes_per_entry,
        "growth": measure_growth(entries),
    }


def run(sizes: list[int], probes: int, seed: int) -> dict:
    """Run every size; return the JSON document."""
    warm_up()  # no kernel compiles inside a timing (a table growth during the upserts, say)
    results = []
    for n in sizes:
        r = bench_size(n, probes, seed)
        print(f"{n:>10,} entries: {r['probes_per_s'] / 1e6:6.1f} M probes/s "
              f"(set {r['set_probes_per_s'] / 1e6:5.1f} M/s, x{r['speedup_vs_set']:.1f}), "
              f"build {r['build_s']:.2f} s, upsert {r['upsert_us']:.2f} us, "
              f"delete {r['delete_us']:.2f} us, {r['bytes_per_entry']:.1f} B/entry", flush=True)
        g = r["growth"]
        print(f"{'':>10} table doubling at {g['entries']:,} entries: matching held "
              f"{g['in_place_loop_late_s'] * 1e3:.0f} ms in place, "
              f"{g['meanwhile_loop_late_s'] * 1e3:.0f} ms grown in a thread "
              f"(apply {g['in_place_apply_s']:.2f} s, {g['meanwhile_apply_s']:.2f} s)",
              flush=True)
        results.append(r)
    return {"benchmark": "index-bench", "machine": platform.machine(),
            "python": platform.python_version(), "seed": seed, "results": results}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of `vigil loadtest index-bench` to `p`."""
    p.add_argument("--sizes", default="1e4,1e6,1e7",
                   help="comma-separated watchlist sizes (default 1e4,1e6,1e7)")
    p.add_argument("--probes", type=float, default=1e6, help="keys per matcher batch")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, help="write the results here")


def main(args: argparse.Namespace) -> int:
    """Run `vigil loadtest index-bench` with parsed options."""
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    doc = run(sizes, int(args.probes), args.seed)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(dumps(doc) + b"\n")
        print(f"results written to {args.json}")
    return 0
