"""How a setting is declared: default, check, allowed values, meaning, and secrecy.

Shared by config/settings.py (the declarations and the loader) and config/render.py (the
generated defaults file and reference), so every view of a setting comes from one place.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import field
from typing import Any

# How a non-empty secret is shown wherever settings are printed.
MASK = "***"


def setting(default: Any, check: Callable[[Any], bool], allowed: str, doc: str, *,
            secret: bool = False) -> Any:
    """Declare one setting: its default, the check a value must pass, the allowed values in
    words (for errors and docs), its meaning in one paragraph, and whether it is a secret."""
    return field(default=default, metadata={
        "check": check, "allowed": allowed, "doc": doc, "secret": secret})


def shown(section: object, f: dataclasses.Field[Any]) -> Any:
    """Return the value of `f` in `section` as it may be printed: a set secret is masked."""
    value = getattr(section, f.name)
    return MASK if f.metadata["secret"] and value else value


def toml_value(value: Any) -> str:
    """Return `value` as a TOML literal (a JSON string is a valid TOML basic string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, str) else repr(value)


class Section:
    """Base of the settings sections: a repr (and so str) that masks secrets."""

    def __repr__(self) -> str:
        items = ", ".join(f"{f.name}={shown(self, f)!r}" for f in dataclasses.fields(self))
        return f"{type(self).__name__}({items})"
