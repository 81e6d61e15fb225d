"""Every setting is declared once, in config/settings.py; the files rendered from the
declarations (config/defaults.toml, the table in docs/operating.md) must match what is committed."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from config.render import (
    DEFAULTS_FILE,
    render_defaults_toml,
    render_settings_markdown,
    with_settings_table,
)
from config.settings import load_settings, sections

# The checkout's root, found from this file: docs/ is not part of the installed package.
ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "regenerate with `python -m config.render`"
KINDS = {"int": int, "float": float, "str": str, "bool": bool}


def test_defaults_toml_is_the_rendered_text() -> None:
    assert DEFAULTS_FILE.read_text(encoding="utf-8") == render_defaults_toml(), REGENERATE


def test_settings_doc_is_the_rendered_text() -> None:
    committed = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
    assert committed == with_settings_table(committed), REGENERATE


def test_a_stale_table_is_noticed() -> None:
    stale = "# Operating\n<!-- settings:begin -->\nSTALE ROW\n<!-- settings:end -->\nmore\n"
    fresh = with_settings_table(stale)
    assert "STALE ROW" not in fresh and fresh.endswith("<!-- settings:end -->\nmore\n")
    assert render_settings_markdown() in fresh


def test_every_setting_is_in_both_the_declarations_and_defaults_toml() -> None:
    with DEFAULTS_FILE.open("rb") as fh:
        in_file = {(s, k): v for s, values in tomllib.load(fh).items() for k, v in values.items()}
    declared = {(s, f.name): f.default
                for s, cls in sections().items() for f in dataclasses.fields(cls)}
    only_file = sorted(f"{s}.{k}" for s, k in in_file.keys() - declared.keys())
    only_declared = sorted(f"{s}.{k}" for s, k in declared.keys() - in_file.keys())
    assert not only_file, f"in defaults.toml only: {only_file}; {REGENERATE}"
    assert not only_declared, f"declared only: {only_declared}; {REGENERATE}"
    assert in_file == declared, REGENERATE


@pytest.mark.parametrize(
    "f", [f for cls in sections().values() for f in dataclasses.fields(cls)],
    ids=lambda f: f.name)
def test_every_setting_has_a_typed_default_and_a_doc(f: dataclasses.Field) -> None:
    assert type(f.default) is KINDS[f.type]
    assert f.metadata["check"](f.default)
    assert f.metadata["allowed"]
    assert f.metadata["doc"].endswith(".") and "\n" not in f.metadata["doc"]


def test_the_declared_defaults_are_what_loads() -> None:
    s = load_settings(env={})
    for name, cls in sections().items():
        assert getattr(s, name) == cls()


def test_the_doc_has_a_row_per_setting_with_its_env_var() -> None:
    doc = render_settings_markdown()
    for name, value, var in load_settings(env={}).describe():
        assert f"| `{name}` | `{var}` | `{value}` |" in doc
