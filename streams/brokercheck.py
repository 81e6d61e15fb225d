"""Start-up check for the high-watermark defect (BROKER.md, defect 1) and what follows from it."""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from config.settings import Settings
from streams.security import kafka_python_security

CHECK_RECORDS = 3


@dataclass(frozen=True)
class BrokerCheck:
    """Outcome of producing one batch of records and reading the partition's end offset."""

    produced: int
    last_offset: int
    end_offset: int

    @property
    def counts_batches(self) -> bool:
        """True when the end offset stops short of the record after the last one produced.

        Compared with the produced offsets, not with the end offset before the batch: on
        the defective broker that earlier figure is itself wrong once the topic holds data.
        """
        return self.end_offset < self.last_offset + 1

    def summary(self, one_record_per_batch: bool) -> str:
        """Return the one log line that reports the check and the producer mode."""
        verdict = (
            "high watermark counts batches, not records"
            if self.counts_batches
            else "high watermark counts records"
        )
        mode = "ON" if one_record_per_batch else "off"
        return (
            f"broker check: {self.produced} records in one batch stored up to offset "
            f"{self.last_offset}, end offset {self.end_offset} (expected {self.last_offset + 1}): "
            f"{verdict}; one record per produce batch is {mode}"
        )


def check_high_watermark(bootstrap: str, topic: str,
                         settings: Settings | None = None) -> BrokerCheck:
    """Produce one batch of three records to `topic` and compare the end offset with theirs.
    `settings`: the deployment's, for TLS and SASL (None: PLAINTEXT)."""
    tp = TopicPartition(topic, 0)
    security = kafka_python_security(settings)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="vigil-broker-check",
                             **security)
    # linger lets the three sends share one produce batch, which is what the defect needs.
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=200, acks="all",
                             client_id="vigil-broker-check", **security)
    try:
        futures = [producer.send(topic, b"check", partition=0) for _ in range(CHECK_RECORDS)]
        producer.flush()
        last = max(f.get(timeout=10).offset for f in futures)
        end = consumer.end_offsets([tp])[tp]
    finally:
        producer.close()
        consumer.close()
    return BrokerCheck(produced=CHECK_RECORDS, last_offset=last, end_offset=end)


def one_record_per_batch(mode: str, check: BrokerCheck | None) -> bool:
    """Decide the producer mode from the `kafka.one_record_per_batch` setting and the check
    (which only `auto` needs)."""
    if mode == "on":
        return True
    if mode == "off":
        return False
    if check is None:
        raise ValueError("kafka.one_record_per_batch = auto needs the broker check")
    return check.counts_batches


def kafka_python_producer_kwargs(one_per_batch: bool) -> dict[str, int]:
    """Producer settings for kafka-python under the given mode."""
    return {"batch_size": 0} if one_per_batch else {}


def aiokafka_producer_kwargs(one_per_batch: bool) -> dict[str, int]:
    """Producer settings for aiokafka under the given mode."""
    return {"max_batch_size": 1} if one_per_batch else {}
