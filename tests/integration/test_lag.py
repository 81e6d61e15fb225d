"""Consumer lag is honest whether producers batch or not: a partition fed 100,000 records in
produce batches of thousands shows that lag and then drains (issue 20, part 8)."""

from __future__ import annotations

import re
import time

from kafka import KafkaProducer

from schemas.json import dumps

RECORDS = 100_000
# Largest produce batch: within Apache Kafka's default message.max.bytes (1 MiB plus 12
# bytes; larger batches are refused), about 9,000 of these records.
BATCH_BYTES = 1_000_000


def sensing_lag(text: str, topic: str) -> float:
    """Sum of vigil_consumer_lag_messages over the partitions of `topic` on /metrics."""
    pattern = rf'^vigil_consumer_lag_messages\{{[^}}]*topic="{re.escape(topic)}"[^}}]*\}} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text, re.M))


def test_one_large_produce_batch_shows_as_lag_then_drains(deployment_factory) -> None:
    d = deployment_factory(worker_lag_interval_s="0.5", topics_sensing_partitions="1")
    d.start_worker()
    topic = d.topics.sensing
    producer = KafkaProducer(bootstrap_servers=d.bootstrap, acks="all", linger_ms=5_000,
                             batch_size=BATCH_BYTES, max_request_size=BATCH_BYTES + (1 << 16))
    try:
        record = {"sensor_id": "S-000001", "ts": int(time.time() * 1000), "id_type": "mac",
                  "device_id": "a45e60d1229f"}
        futures = [producer.send(topic, key=b"S-000001", value=dumps({**record, "rssi": -i % 90}))
                   for i in range(RECORDS)]
        producer.flush()  # a dozen batches: linger holds them until they are full
        assert all(f.get(timeout=30) for f in futures[-1:])
    finally:
        producer.close()
    samples = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        samples.append(sensing_lag(d.http_text("/metrics"), topic))
        if max(samples) > 0 and samples[-1] == 0:
            break
        time.sleep(0.5)
    # Before the fix ListOffsets on the embedded broker counted one record per batch: a
    # dozen at most, gone at the next sample.
    assert max(samples) >= RECORDS // 10, samples
    assert samples[-1] == 0, (samples[-10:], d.log_tail())
