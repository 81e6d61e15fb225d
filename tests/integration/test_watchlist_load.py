"""A watchlist written in large batches is read whole before the worker says it is ready."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from kafka import KafkaProducer

from loadtest.harness.deployment import Deployment
from schemas.json import dumps
from tests.integration.test_end_to_end import upsert

pytestmark = pytest.mark.integration

COMMANDS = 20_000


def test_a_watchlist_in_large_batches_is_whole_when_the_worker_is_ready(
        bootstrap: str, tmp_path: Path) -> None:
    d = Deployment(bootstrap, tmp_path)
    try:
        # Few batches of thousands of records: on the embedded broker ListOffsets then ends
        # at the start of the last batch, thousands of commands short. Each batch stays
        # within Apache Kafka's default message.max.bytes (1 MiB), which refuses larger ones.
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1000,
                                 batch_size=1_000_000, max_request_size=1 << 21)
        futures = [producer.send(d.topics.watchlist, dumps(upsert(entry, key=mac)),
                                 key=entry.encode())
                   for entry, mac in ((f"W-{i:05d}", f"02:00:00:00:{i >> 8:02X}:{i & 255:02X}")
                                      for i in range(COMMANDS))]
        producer.flush()
        for f in futures:
            f.get(timeout=30)
        producer.close()
        d.start_worker()
        loaded = re.search(r"watchlist loaded: (\d+) entries", d.log_tail(400))
        assert loaded, d.log_tail()
        assert int(loaded.group(1)) == COMMANDS
        assert d.watchlist_entries() == COMMANDS
    finally:
        d.close()
