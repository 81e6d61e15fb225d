"""Typed, frozen settings: defaults.toml, then --config FILE, then VIGIL_* environment."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
ENV_PREFIX = "VIGIL_"
# Shorthand the README and CI use for "run against this Kafka cluster".
BOOTSTRAP_ENV = "VIGIL_BOOTSTRAP"


class SettingsError(ValueError):
    """A setting has a value that is not allowed; the message is one line for the operator."""


def _check(predicate: Callable[[Any], bool], allowed: str) -> Any:
    return field(metadata={"check": predicate, "allowed": allowed})


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


@dataclass(frozen=True)
class KafkaSettings:
    """Where the cluster is and how Vigil talks to it."""

    bootstrap: str = _check(_host_port, "empty or host:port[,host:port...]")
    topic_prefix: str = _check(_topic_prefix, "up to 64 of [A-Za-z0-9._-]")
    session_timeout_s: float = _check(lambda v: 1 <= v <= 300, "a number of seconds, 1-300")
    heartbeat_interval_s: float = _check(lambda v: 0.1 <= v <= 60, "a number of seconds, 0.1-60")
    fetch_max_wait_ms: int = _check(lambda v: 1 <= v <= 10_000, "an integer 1-10000")
    one_record_per_batch: str = _check(lambda v: v in ("auto", "on", "off"), "auto, on or off")


@dataclass(frozen=True)
class BrokerSettings:
    """The embedded broker (demo, tests, CI)."""

    run_dir: str = _check(bool, "a non-empty path")
    host: str = _check(bool, "a non-empty host name or address")
    port: int = _check(_port, "0 (a free port) or 1-65535")
    start_timeout_s: float = _check(_positive, "a positive number of seconds")


def _partitions(v: int) -> bool:
    return 1 <= v <= 1024


@dataclass(frozen=True)
class TopicSettings:
    """Partition counts used when Vigil creates the contract's topics."""

    sensing_partitions: int = _check(_partitions, "an integer 1-1024")
    plates_partitions: int = _check(_partitions, "an integer 1-1024")
    checkins_partitions: int = _check(_partitions, "an integer 1-1024")
    watchlist_partitions: int = _check(_partitions, "an integer 1-1024")
    hits_partitions: int = _check(_partitions, "an integer 1-1024")
    deadletter_partitions: int = _check(_partitions, "an integer 1-1024")
    audit_partitions: int = _check(_partitions, "an integer 1-1024")
    replication_factor: int = _check(lambda v: 1 <= v <= 16, "an integer 1-16")


@dataclass(frozen=True)
class WorkerSettings:
    """One worker process: its web port and how it batches."""

    web_host: str = _check(bool, "a non-empty host name or address")
    web_port: int = _check(lambda v: 1 <= v <= 65535, "an integer 1-65535")
    batch_max_messages: int = _check(lambda v: 1 <= v <= 100_000, "an integer 1-100000")
    batch_within_s: float = _check(lambda v: 0 < v <= 10, "a number of seconds, above 0, up to 10")
    batches_in_flight: int = _check(lambda v: 1 <= v <= 64, "an integer 1-64")
    max_message_bytes: int = _check(lambda v: 1024 <= v <= 1 << 30, "an integer 1024-1073741824")
    stream_buffer_messages: int = _check(lambda v: 1 <= v <= 1_000_000, "an integer 1-1000000")
    fetch_partition_bytes: int = _check(lambda v: 1024 <= v <= 1 << 30,
                                        "an integer 1024-1073741824")
    send_retries: int = _check(lambda v: 0 <= v <= 100, "an integer 0-100")
    lag_interval_s: float = _check(lambda v: 0.1 <= v <= 300, "a number of seconds, 0.1-300")
    log_level: str = _check(
        lambda v: v in ("debug", "info", "warning", "error"), "debug, info, warning or error"
    )


@dataclass(frozen=True)
class WatchlistSettings:
    """Rules for watchlist entries."""

    max_ttl_days: int = _check(lambda v: 1 <= v <= 3650, "an integer 1-3650")
    hash_secret: str = _check(lambda v: len(v) <= 256, "at most 256 characters")
    expiry_check_s: float = _check(lambda v: 0.05 <= v <= 3600, "seconds within 0.05-3600")


@dataclass(frozen=True)
class AlertSettings:
    """How hits are raised."""

    suppress_seconds: int = _check(lambda v: 0 <= v <= 86400 * 30, "an integer 0-2592000")
    suppression_lookback_s: int = _check(lambda v: 0 <= v <= 86400 * 30, "an integer 0-2592000")


@dataclass(frozen=True)
class AccessSettings:
    """Who may use the HTTP API, and how hit streams are paced."""

    subscribers_file: str = _check(lambda v: True, "a path, or empty for no subscribers")
    reload_interval_s: float = _check(lambda v: 0.1 <= v <= 3600, "a number of seconds, 0.1-3600")
    stream_buffer_hits: int = _check(lambda v: 1 <= v <= 1_000_000, "an integer 1-1000000")
    ping_interval_s: float = _check(lambda v: 0.1 <= v <= 300, "a number of seconds, 0.1-300")
    write_timeout_s: float = _check(lambda v: 0.1 <= v <= 300, "a number of seconds, 0.1-300")
    recent_hits: int = _check(lambda v: 0 <= v <= 10_000_000, "an integer 0-10000000")


@dataclass(frozen=True)
class Settings:
    """Every setting of Vigil, loaded once by `load_settings` and passed down."""

    kafka: KafkaSettings
    broker: BrokerSettings
    topics: TopicSettings
    worker: WorkerSettings
    watchlist: WatchlistSettings
    alerts: AlertSettings
    access: AccessSettings

    def as_env(self) -> dict[str, str]:
        """Return these settings as VIGIL_* variables, so a child process loads the same."""
        env = {}
        for section in dataclasses.fields(self):
            values = getattr(self, section.name)
            for f in dataclasses.fields(values):
                var = f"{ENV_PREFIX}{section.name}_{f.name}".upper()
                env[var] = _format(getattr(values, f.name))
        return env


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
            raise SettingsError(
                f"config: {name}.{f.name} = {raw!r} (from {where}): expected {allowed}")
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
    """Load defaults, then `config_file`, then VIGIL_* variables from `env` (default os.environ).

    Raises SettingsError with a one-line message naming the setting, the value and what is
    allowed, or an unknown section or key.
    """
    env = os.environ if env is None else env
    sections = {f.name: f.type for f in dataclasses.fields(Settings)}
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in _read_toml(DEFAULTS_FILE).items()}
    origins: dict[str, dict[str, str]] = {k: {} for k in merged}

    if config_file is not None:
        for section, values in _read_toml(Path(config_file)).items():
            if section not in merged or not isinstance(values, dict):
                raise SettingsError(f"config: {config_file}: unknown section [{section}]")
            for key, value in values.items():
                if key not in merged[section]:
                    raise SettingsError(f"config: {config_file}: unknown setting {section}.{key}")
                merged[section][key] = value
                origins[section][key] = str(config_file)

    for section, values in merged.items():
        for key in values:
            var = f"{ENV_PREFIX}{section}_{key}".upper()
            if var in env:
                values[key] = env[var]
                origins[section][key] = var
    if env.get(BOOTSTRAP_ENV):
        merged["kafka"]["bootstrap"] = env[BOOTSTRAP_ENV]
        origins["kafka"]["bootstrap"] = BOOTSTRAP_ENV

    built = {}
    for name, cls in sections.items():
        cls = globals()[cls] if isinstance(cls, str) else cls
        built[name] = _build_section(name, cls, merged[name], origins[name])
    return Settings(**built)
