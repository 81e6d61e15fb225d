"""Kafka clients for the CLI and tools, set up for the broker they talk to."""

from __future__ import annotations

from kafka import KafkaProducer

from config.settings import Settings
from streams.broker import resolve_bootstrap
from streams.brokercheck import (
    check_high_watermark,
    kafka_python_producer_kwargs,
    one_record_per_batch,
)
from streams.security import kafka_python_security
from streams.topics import ensure_topics, topic_names


def needs_one_record_per_batch(settings: Settings, bootstrap: str) -> bool:
    """Return the producer mode for `bootstrap`: the setting, or the broker check when `auto`."""
    mode = settings.kafka.one_record_per_batch
    check = (check_high_watermark(bootstrap, topic_names(settings).broker_check, settings)
             if mode == "auto" else None)
    return one_record_per_batch(mode, check)


# Batch size for topics written in bulk whose readers take the end from fetch responses.
BULK_BATCH_BYTES = 512 * 1024


def make_producer(settings: Settings) -> KafkaProducer:
    """Return a kafka-python producer for the deployment, topics created, mode checked.
    (Bulk watchlist loads use streams/keyed_writer.py instead.)"""
    bootstrap = resolve_bootstrap(settings)
    ensure_topics(bootstrap, settings)
    batching = kafka_python_producer_kwargs(needs_one_record_per_batch(settings, bootstrap))
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                         max_request_size=8 << 20, client_id="vigil-cli", **batching,
                         **kafka_python_security(settings))
