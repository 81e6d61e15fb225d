"""`vigil watchlist load` writes in large batches, partitioned by key as Kafka's default
partitioner does, and keeps each entry's commands in order."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from schemas.json import dumps
from streams.reader import open_sync_reader
from tests.integration.test_end_to_end import upsert

pytestmark = pytest.mark.integration

ENTRIES = 3_000


def test_bulk_load_is_keyed_ordered_and_whole(deployment_factory, tmp_path: Path) -> None:
    d = deployment_factory()
    lines = [dumps(upsert(f"W-{i:05d}", key=f"02:00:00:01:{i >> 8:02X}:{i & 255:02X}"))
             for i in range(ENTRIES)]
    # Every tenth entry is deleted later in the file: only order keeps it deleted.
    lines += [dumps({"op": "delete", "entry_id": f"W-{i:05d}", "requested_by": "r",
                     "reason": "test"}) for i in range(0, ENTRIES, 10)]
    path = tmp_path / "bulk.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    done = subprocess.run([sys.executable, "-m", "cli.main", "watchlist", "load", str(path)],
                          env={**os.environ, **d.settings.as_env()}, capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert f"{len(lines)} commands sent" in done.stdout.decode()

    consumer, tps = open_sync_reader(d.bootstrap, [d.topics.watchlist],
                                     client_id="test-bulk-load", settings=d.settings)
    try:
        consumer.seek_to_beginning(*tps)
        seen: list = []
        deadline = time.monotonic() + 30
        while len(seen) < len(lines) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                seen.extend(records)
    finally:
        consumer.close()
    assert len(seen) == len(lines)
    partitions = sorted(tp.partition for tp in tps)
    pick = DefaultPartitioner()
    assert all(r.partition == pick(r.key, partitions, partitions) for r in seen)
    assert len({r.partition for r in seen}) == len(partitions)  # spread, not one partition
    d.start_worker()
    deadline = time.monotonic() + 30
    while d.watchlist_entries() != ENTRIES - ENTRIES // 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert d.watchlist_entries() == ENTRIES - ENTRIES // 10

