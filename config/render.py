"""Render config/defaults.toml and the settings table of docs/operating.md from the
declarations in config/settings.py.

Run `python -m config.render` in a checkout after changing a setting; the tests in
tests/config fail while either committed file differs from what is rendered here.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import textwrap
from pathlib import Path

from config.fields import toml_value
from config.settings import env_var, sections

COMMAND = "python -m config.render"
DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
# The checkout's root; docs/ exists only there, not in an installed package.
ROOT = Path(__file__).resolve().parent.parent
OPERATING_DOC = ROOT / "docs" / "operating.md"
# The table goes between these lines of docs/operating.md; the rest of that file is prose.
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"
COMMENT_WIDTH = 90
NBSP = "\N{NO-BREAK SPACE}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _comment(text: str) -> list[str]:
    # A `code span` is kept on one line: a command split over two comment lines misleads.
    glued = re.sub(r"`[^`]*`", lambda m: m.group().replace(" ", NBSP), _one_line(text))
    return [f"# {line}".replace(NBSP, " ")
            for line in textwrap.wrap(glued, COMMENT_WIDTH - 2, break_on_hyphens=False)]


def render_defaults_toml() -> str:
    """Return the text of config/defaults.toml: every setting with its default and meaning.

    The loader does not read this file (the defaults are the declarations); it is the
    commented reference for writing a --config FILE, which has the same layout.
    """
    lines = [
        f"# Generated from config/settings.py by `{COMMAND}`: do not edit.",
        *_comment("Vigil defaults. Override any key with --config FILE (same layout) or with "
                  "the environment variable VIGIL_<SECTION>_<KEY>, e.g. "
                  "VIGIL_WORKER_WEB_PORT=6067. "
                  "Every setting, in tables: docs/operating.md#settings."),
    ]
    for name, cls in sections().items():
        lines += ["", *_comment(cls.__doc__ or ""), f"[{name}]"]
        for f in dataclasses.fields(cls):
            lines += [*_comment(f.metadata["doc"]), f"{f.name} = {toml_value(f.default)}"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


def render_settings_markdown() -> str:
    """Return the settings table of docs/operating.md: per section, every setting's name,
    environment variable, default, allowed values and meaning."""
    lines = [
        f"Generated from the declarations in `config/settings.py` by `{COMMAND}`; "
        "do not edit by hand.",
    ]
    for name, cls in sections().items():
        lines += ["", f"### `[{name}]`", "", _cell(cls.__doc__ or ""), "",
                  "| Setting | Env var | Default | Allowed | Meaning |",
                  "|---|---|---|---|---|"]
        lines += [
            f"| `{name}.{f.name}` | `{env_var(name, f.name)}` | `{toml_value(f.default)}` "
            f"| {_cell(f.metadata['allowed'])} | {_cell(f.metadata['doc'])} |"
            for f in dataclasses.fields(cls)
        ]
    return "\n".join(lines) + "\n"


def with_settings_table(doc: str) -> str:
    """Return `doc` (docs/operating.md) with the rendered table between its markers."""
    head, sep, rest = doc.partition(BEGIN + "\n")
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"docs/operating.md needs the lines {BEGIN} and {END}")
    return f"{head}{BEGIN}\n{render_settings_markdown()}{END}{tail}"


def main() -> int:
    """Write both rendered files; only in a checkout, where docs/ belongs."""
    if not (ROOT / "pyproject.toml").is_file():
        print(f"config.render: {ROOT} is not a Vigil checkout; run it from one", file=sys.stderr)
        return 1
    operating = with_settings_table(OPERATING_DOC.read_text(encoding="utf-8"))
    for path, text in ((DEFAULTS_FILE, render_defaults_toml()), (OPERATING_DOC, operating)):
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
