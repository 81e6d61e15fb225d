"""All Prometheus metrics of a worker, built once from a registry passed in."""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics(NamedTuple):
    """The worker's metrics; tests build their own from a fresh `CollectorRegistry`."""

    registry: CollectorRegistry
    records_in: Counter
    rejected: Counter
    hits: Counter
    batch_seconds: Histogram
    watchlist_entries: Gauge
    watchlist_ready: Gauge
    watchlist_commands: Counter
    broker_hwm_counts_batches: Gauge
    producer_one_record_per_batch: Gauge
    subscriber_connections: Gauge
    subscriber_buffer_depth: Gauge
    subscriber_drops: Counter
    audit_events: Counter


def build_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """Create every metric in `registry` (a new one when None)."""
    r = registry if registry is not None else CollectorRegistry()
    return Metrics(
        registry=r,
        records_in=Counter(
            "vigil_records_in", "Input records decoded, by source and format",
            ["source", "format"], registry=r,
        ),
        rejected=Counter(
            "vigil_rejected", "Inputs sent to the dead-letter topic, by source and reason",
            ["source", "reason"], registry=r,
        ),
        hits=Counter("vigil_hits", "Hits produced, by source and match", ["source", "match"],
                     registry=r),
        batch_seconds=Histogram(
            "vigil_batch_processing_seconds", "Time to decode, match and send one agent batch",
            ["source"], registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        ),
        watchlist_entries=Gauge("vigil_watchlist_entries", "Entries held in this worker's index",
                                registry=r),
        watchlist_ready=Gauge(
            "vigil_watchlist_ready", "1 once the watchlist topic has been read to its end",
            registry=r,
        ),
        watchlist_commands=Counter(
            "vigil_watchlist_commands", "Watchlist commands applied to this worker's index, by op",
            ["op"], registry=r,
        ),
        broker_hwm_counts_batches=Gauge(
            "vigil_broker_hwm_counts_batches",
            "1 when the start-up check found the end offset counting batches, not records",
            registry=r,
        ),
        producer_one_record_per_batch=Gauge(
            "vigil_producer_one_record_per_batch",
            "1 when every producer puts one record in each produce batch (workaround on)",
            registry=r,
        ),
        subscriber_connections=Gauge("vigil_subscriber_connections",
                                     "Open hit streams, by subscriber", ["subscriber"], registry=r),
        subscriber_buffer_depth=Gauge("vigil_subscriber_buffer_depth",
                                      "Hits queued for a subscriber's stream", ["subscriber"],
                                      registry=r),
        subscriber_drops=Counter("vigil_subscriber_drops",
                                 "Streams cut off for falling behind, by subscriber",
                                 ["subscriber"], registry=r),
        audit_events=Counter("vigil_audit_events", "Audit events written, by type", ["type"],
                             registry=r),
    )
