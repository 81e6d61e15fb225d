"""Hostile-input fuzzer for every decoder: `vigil loadtest fuzz [--inputs 1e6] --json PATH`.

A mutation fuzzer, not a property test: it starts from valid messages of each kind (JSON
records and arrays for sensing, plates and check-ins, binary sensing batches, watchlist and
location commands) and breaks them the ways untrusted producers do (truncation, wrong
counts, invalid UTF-8, deep nesting, huge strings, NaN, negative and far-future timestamps,
unknown fields, wrong types, every watchlist rule broken), fast enough for 10^6 inputs in a
nightly-style run; CI runs a short one. An input passes when the decoder returns without
raising and every rejection has a known reason and a one-line bounded detail.
"""

from __future__ import annotations

import argparse
import random
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from loadtest.traffic.traffic import STREAM_FORMAT
from schemas.json import dumps
from schemas.locations import decode_location_command
from schemas.rejection import REASONS, Rejected
from schemas.sensing import (
    HEADER_BYTES,
    RECORD_BYTES,
    RECORD_DTYPE,
    encode_sensing_batch,
)
from schemas.watchlist import decode_watchlist_command
from tables.inputs import InputStream

REFERENCE_MS = 1_795_000_000_000
MAX_TTL_DAYS = 90
FAR_FUTURE_MS = 2**62
DEVICE_ID_OFFSET = RECORD_DTYPE.fields["device_id"][1]

VALID: dict[str, dict[str, object]] = {
    "sensing": {"sensor_id": "S-1", "ts": REFERENCE_MS, "id_type": "mac",
                "device_id": "a4:5e:60:d1:22:9f", "rssi": -60},
    "plates": {"camera_id": "C-1", "ts": REFERENCE_MS, "plate": "京A·12345",
               "confidence": 0.9, "country": "CN"},
    "checkins": {"property_id": "P-1", "ts": REFERENCE_MS, "doc_type": "national_id",
                 "doc_number": "371002199001011237", "name": "Li Lei",
                 "birth_date": "1990-01-01"},
    "watchlist": {"op": "upsert", "entry_id": "W-1", "list": "stolen", "subject_type":
                  "device", "id_type": "mac", "key": "a45e60d1229f", "match": "exact",
                  "priority": 1, "legal_basis": "warrant 1", "requested_by": "officer 7",
                  "expires_at": REFERENCE_MS + 86_400_000},
    "locations": {"op": "upsert", "location_id": "C-1", "kind": "camera",
                  "areas": ["old-town", "ring-road"], "lat": 37.5, "lon": 122.1,
                  "name": "Ring Rd"},
}  # fmt: skip

# Values that break a field: wrong types, bounds, NaN-like floats, empty and huge strings.
HOSTILE_VALUES: list[object] = [
    None, True, False, 0, -1, 1, 2**31, 2**63 - 1, -(2**63), 2**64 - 1, 1.5, -0.0, 1e308,
    "", " ", "x" * 100_000, "\u0000", "\ud7ff\ue000", "é" * 70, "null", "NaN",
    [], {}, [1, 2], {"a": {"b": {}}}, -REFERENCE_MS, FAR_FUTURE_MS, REFERENCE_MS * 1000,
    "2026-11-23T00:00:00Z", "a45e60d1229f", "371002199001011238", "upsert", "delete",
    "document", "plate", "ocr-tolerant", "passport",
]  # fmt: skip
RAW_INSERTS = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"NaN", b"Infinity",
               b"-Infinity", b"1e99999", b"\"", b"\\", b"{", b"]", b",", b"9" * 400]


def _mutate_doc(rng: random.Random, doc: dict[str, object]) -> dict[str, object]:
    doc = dict(doc)
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if roll < 0.3 and doc:
            del doc[rng.choice(sorted(doc))]
        elif roll < 0.8 and doc:
            doc[rng.choice(sorted(doc))] = rng.choice(HOSTILE_VALUES)
        else:
            doc[f"unknown_{rng.randrange(1000)}"] = rng.choice(HOSTILE_VALUES)
    return doc


def _mutate_bytes(rng: random.Random, value: bytes) -> bytes:
    data = bytearray(value)
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if roll < 0.25:
            del data[rng.randrange(len(data) + 1):]
        elif roll < 0.5 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif roll < 0.8:
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.choice(RAW_INSERTS)
        else:
            data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return bytes(data)


def _deep(rng: random.Random) -> bytes:
    depth = rng.choice([10, 600, 1100, 5000, 100_000])
    opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
    return opener * depth + b"1" + closer * depth


def json_input(rng: random.Random, kind: str) -> bytes:
    """One hostile JSON message of `kind`: a mutated record, an array of them, or noise."""
    roll = rng.random()
    if roll < 0.05:
        return _deep(rng)
    if roll < 0.10:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 100)))
    if roll < 0.55:
        value = dumps(_mutate_doc(rng, VALID[kind]))
    else:
        value = dumps([_mutate_doc(rng, VALID[kind]) if rng.random() < 0.7 else VALID[kind]
                       for _ in range(rng.randint(0, 5))])
    return _mutate_bytes(rng, value) if rng.random() < 0.4 else value


def binary_input(rng: random.Random) -> bytes:
    """One hostile binary sensing batch: bad fields, wrong count, truncation, junk."""
    n = rng.randint(0, 8)
    records = [{"ts": rng.choice([REFERENCE_MS, -1, 0, FAR_FUTURE_MS, 2**63 - 1]),
                "sensor_id": rng.randrange(2**32), "id_type": rng.randrange(256),
                "device_id": rng.choice(["a45e60d1229f", "", "zz", "460001234567890",
                                          "x" * 16, "A4-5E-60-D1-22-9F"[:16]]),
                "rssi": rng.randint(-128, 127)} for _ in range(n)]
    value = bytearray(encode_sensing_batch(records))
    roll = rng.random()
    if roll < 0.2:  # a count that does not match the length
        value[8:12] = rng.choice([n + 1, max(0, n - 1), 2**32 - 1, 0]).to_bytes(4, "little")
    elif roll < 0.4:
        del value[rng.randrange(len(value) + 1):]
    elif roll < 0.6 and n:
        at = HEADER_BYTES + rng.randrange(n * RECORD_BYTES)
        value[at] = rng.randrange(256)
    elif roll < 0.7:
        value += bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
    elif roll < 0.8 and n:  # invalid UTF-8 and NULs inside a device id
        at = HEADER_BYTES + rng.randrange(n) * RECORD_BYTES + DEVICE_ID_OFFSET
        value[at:at + 16] = rng.choice([b"\xff\xfe", b"\xed\xa0\x80", b"a\x00b"]).ljust(16, b"!")
    return bytes(value)


def _watchlist(value: bytes) -> list[Rejected]:
    result = decode_watchlist_command(value, b"W-1", REFERENCE_MS, MAX_TTL_DAYS)
    return [result] if isinstance(result, Rejected) else []


def _locations(value: bytes) -> list[Rejected]:
    result = decode_location_command(value, b"C-1")
    return [result] if isinstance(result, Rejected) else []


def _stream_kind(stream: InputStream, fmt: str
                 ) -> tuple[Callable[[random.Random], bytes], Callable[[bytes], list[Rejected]]]:
    """Return the hostile-input generator and the decoder of one input stream's format."""
    if fmt == "binary":
        assert stream.binary is not None
        content_type = stream.binary.content_type
        return binary_input, lambda v: stream.decode(v, content_type)[1]
    return (lambda rng: json_input(rng, stream.name)), lambda v: stream.decode(v, None)[1]


# kind -> (input generator, decoder returning its rejections)
KINDS: dict[str, tuple[Callable[[random.Random], bytes], Callable[[bytes], list[Rejected]]]] = {
    **{stream: _stream_kind(s, fmt) for stream, (s, fmt) in STREAM_FORMAT.items()},
    "watchlist": (lambda rng: json_input(rng, "watchlist"), _watchlist),
    "locations": (lambda rng: json_input(rng, "locations"), _locations),
}


def problems_of(rejections: list[Rejected]) -> list[str]:
    """What is wrong with a decoder's rejections (empty when they keep the rules)."""
    out = []
    for r in rejections:
        if r.reason not in REASONS:
            out.append(f"unknown reason {r.reason!r}")
        if "\n" in r.detail or len(r.detail) >= 200:
            out.append(f"detail not one bounded line: {r.detail[:80]!r}")
    return out


def run(inputs: int, seed: int) -> dict:
    """Fuzz every decoder with `inputs` inputs in all (spread evenly); return the report."""
    rng = random.Random(seed)
    per_kind = max(1, inputs // len(KINDS))
    report: dict = {"seed": seed, "inputs": 0, "failures": [], "kinds": {}}
    for kind, (generate, decode) in KINDS.items():
        reasons: Counter[str] = Counter()
        slowest = 0.0
        started = time.perf_counter()
        for _ in range(per_kind):
            value = generate(rng)
            t0 = time.perf_counter()
            try:
                rejected = decode(value)
            except Exception:  # any escape is the finding
                report["failures"].append({"kind": kind, "input": value[:300].hex(),
                                           "error": traceback.format_exc(limit=3)})
                continue
            slowest = max(slowest, time.perf_counter() - t0)
            reasons.update(r.reason for r in rejected)
            for problem in problems_of(rejected):
                report["failures"].append({"kind": kind, "input": value[:300].hex(),
                                           "error": problem})
        report["kinds"][kind] = {"inputs": per_kind, "rejections": dict(reasons),
                                 "seconds": time.perf_counter() - started,
                                 "slowest_input_s": slowest}
        report["inputs"] += per_kind
    return report


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of `vigil loadtest fuzz` to `p`."""
    p.add_argument("--inputs", type=float, default=1e6, help="inputs in all (default 1e6)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, help="write the report here")


def main(args: argparse.Namespace) -> int:
    """Run `vigil loadtest fuzz`; exit 1 when any input made a decoder fail."""
    report = run(int(args.inputs), args.seed)
    for kind, k in report["kinds"].items():
        top = ", ".join(f"{r} {n}" for r, n in Counter(k["rejections"]).most_common(4))
        print(f"{kind:>15}: {k['inputs']:,} inputs in {k['seconds']:.1f} s, slowest "
              f"{k['slowest_input_s'] * 1e3:.1f} ms; {top}")
    print(f"{report['inputs']:,} inputs, {len(report['failures'])} failures")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(dumps(report) + b"\n")
    return 1 if report["failures"] else 0
