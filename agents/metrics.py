"""All Prometheus metrics of a worker, built once from a registry passed in.

Names follow Prometheus conventions: counters get `_total` from prometheus-client, units
are in the name (`_seconds`, `_bytes`; `_records` for sightings, reads and check-ins,
`_messages` for Kafka messages). Labels are bounded: sources, formats,
reasons, list names (set by config), topic-partitions, subscribers; never an identifier.
"""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds from a record's observation to its hit; the contract promises under a second.
HIT_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60)
# Records per agent batch: one JSON record up to many full binary batches.
BATCH_RECORDS_BUCKETS = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
# Garbage collector pauses: young generations take microseconds, a full one over a large
# heap hundreds of milliseconds (agents/gcpauses.py).
GC_PAUSE_BUCKETS = (0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


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
    watchlist_log_lost: Counter
    broker_hwm_counts_batches: Gauge
    producer_one_record_per_batch: Gauge
    batch_records: Histogram
    hit_latency: Histogram
    consumer_lag: Gauge
    suppressed: Counter
    expiries: Counter
    index_bytes: Gauge
    subscriber_connections: Gauge
    subscriber_buffer_depth: Gauge
    subscriber_drops: Counter
    audit_events: Counter
    gc_pause: Histogram
    audit_checkpoint_events: Gauge
    hit_dispositions: Counter


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
        hits=Counter("vigil_hits", "Hits produced, by source, list and match rule",
                     ["source", "list", "match"], registry=r),
        batch_seconds=Histogram(
            "vigil_batch_processing_seconds", "Time to decode, match and send one agent batch",
            ["source"], registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        ),
        watchlist_entries=Gauge("vigil_watchlist_entries",
                                "Entries held in this worker's index, by list", ["list"],
                                registry=r),
        watchlist_ready=Gauge(
            "vigil_watchlist_ready", "1 once the watchlist topic has been read to its end",
            registry=r,
        ),
        watchlist_log_lost=Counter(
            "vigil_watchlist_log_lost",
            "Times the watchlist topic was found shorter than already read (the broker lost "
            "its data): the watchlist was cleared and is read again", registry=r),
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
        batch_records=Histogram(
            "vigil_batch_records", "Records decoded in one agent batch, by source",
            ["source"], registry=r, buckets=BATCH_RECORDS_BUCKETS,
        ),
        hit_latency=Histogram(
            "vigil_hit_latency_seconds",
            "From a record's observed time to its hit being produced (detected_ts - observed_ts)",
            ["source"], registry=r, buckets=HIT_LATENCY_BUCKETS,
        ),
        consumer_lag=Gauge(
            "vigil_consumer_lag_messages",
            "Kafka messages (a binary batch counts once) past the group's committed offset, "
            "by topic-partition assigned to this worker",
            ["topic", "partition"], registry=r,
        ),
        suppressed=Counter(
            "vigil_suppressed_sightings",
            "Matches not turned into hits because of suppression, by source", ["source"],
            registry=r,
        ),
        expiries=Counter("vigil_watchlist_expiries",
                         "Entries removed from this worker's index at expiry", registry=r),
        index_bytes=Gauge("vigil_watchlist_index_bytes",
                          "Memory held by this worker's watchlist index", registry=r),
        subscriber_connections=Gauge("vigil_subscriber_connections",
                                     "Open hit streams, by subscriber", ["subscriber"],
                                     registry=r),
        subscriber_buffer_depth=Gauge("vigil_subscriber_buffer_depth",
                                      "Hits queued for a subscriber's stream", ["subscriber"],
                                      registry=r),
        subscriber_drops=Counter("vigil_subscriber_drops",
                                 "Streams cut off for falling behind, by subscriber",
                                 ["subscriber"], registry=r),
        audit_events=Counter("vigil_audit_events", "Audit events written, by type", ["type"],
                             registry=r),
        gc_pause=Histogram("vigil_gc_pause_seconds",
                           "Pauses of Python's garbage collector, by generation",
                           ["generation"], registry=r, buckets=GC_PAUSE_BUCKETS),
        # One series per worker process (a producer id is one process's audit chain).
        audit_checkpoint_events=Gauge(
            "vigil_audit_checkpoint_events",
            "Events of this worker's audit chain covered by its newest signed checkpoint that "
            "the broker has acknowledged (vigil audit verify --expect-count), by producer",
            ["producer"], registry=r),
        # Counted by the worker that recorded the disposition, once each; the precision
        # panel and alert are built on this name and these labels.
        hit_dispositions=Counter(
            "vigil_hit_dispositions", "Dispositions of hits recorded, by list, match rule "
            "and outcome", ["list", "match", "outcome"], registry=r),
    )
