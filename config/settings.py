"""Typed, frozen settings, each declared once in config/sections.py: type, default, allowed
values and meaning.

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

from config.fields import MASK, shown, toml_value
from config.sections import (
    AccessSettings,
    AlertSettings,
    AuditSettings,
    BrokerSettings,
    KafkaSettings,
    TopicSettings,
    WatchlistSettings,
    WorkerSettings,
)

ENV_PREFIX = "VIGIL_"
# Shorthand the README and CI use for "run against this Kafka cluster".
BOOTSTRAP_ENV = "VIGIL_BOOTSTRAP"


class SettingsError(ValueError):
    """A setting has a value that is not allowed; the message is one line for the operator."""


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
    audit: AuditSettings

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
