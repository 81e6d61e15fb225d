"""The load tools' probes against the real broker: consumer-group lag, worker counters."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer, TopicPartition

from loadtest.probes import GroupLag, process_sample, worker_counters

pytestmark = pytest.mark.integration


def test_group_lag_is_end_minus_committed_and_none_before_any_commit(deployment_factory) -> None:
    d = deployment_factory()
    for i in range(10):
        d.send("plates", {"n": i})
    group = f"lag-{uuid.uuid4().hex[:8]}"
    lag = GroupLag(d.bootstrap, group, [d.topics.plates])
    # Partitions assigned by hand: a commit needs no group join (which the embedded broker
    # holds for half the session timeout).
    consumer = KafkaConsumer(bootstrap_servers=d.bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    consumer.assign([TopicPartition(d.topics.plates, p)
                     for p in consumer.partitions_for_topic(d.topics.plates)])
    try:
        assert lag.messages() is None
        taken = 0
        while taken < 4:
            for records in consumer.poll(500, max_records=4 - taken).values():
                taken += len(records)
        consumer.commit()
        assert lag.messages() == 6
    finally:
        consumer.close()
        lag.close()


def test_worker_counters_and_process_sample_of_a_running_worker(deployment_factory) -> None:
    d = deployment_factory()
    d.start_worker()
    d.send("plates", [{"camera_id": "C-1", "ts": 1_795_000_000_000, "plate": "鲁K·12345"}] * 3)
    d.send("plates", {"camera_id": "C-1", "ts": 1_795_000_000_000, "plate": ""})
    d.read_until("deadletter", lambda vs: len(vs) >= 1)
    counters = worker_counters(d.base_url)
    assert counters["records_in/plate/json"] == 3
    assert counters["rejected/plate"] == 1
    sample = process_sample(d.worker.pid)
    assert sample is not None and sample.cpu_s > 0 and sample.rss_bytes > 10 << 20
