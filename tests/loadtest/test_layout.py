"""The layout of loadtest/ (its __init__): sub-packages in order, each importing only those
before it, none too big to read, no module over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LOADTEST = Path(__file__).resolve().parents[2] / "loadtest"
# Lowest first; a sub-package may import those of lower ranks only. `commands` is on top.
RANKS = [["harness"], ["traffic"], ["bench", "faults", "replay"], ["micro"]]
MAX_FILES = 12
MAX_LINES = 400


def subpackages_imported(path: Path) -> set[str]:
    """Return the loadtest sub-packages `path` imports (at any depth of its code)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        names.update(m.split(".")[1] for m in modules if m.startswith("loadtest."))
    return names


def test_every_subpackage_is_ranked() -> None:
    on_disk = {p.parent.name for p in LOADTEST.glob("*/__init__.py")}
    assert on_disk == {pkg for rank in RANKS for pkg in rank}


@pytest.mark.parametrize("pkg", [pkg for rank in RANKS for pkg in rank])
def test_a_subpackage_imports_only_lower_ranks(pkg: str) -> None:
    rank_of = {p: i for i, rank in enumerate(RANKS) for p in rank}
    upward = [f"{path.name} imports loadtest.{name}"
              for path in sorted((LOADTEST / pkg).glob("*.py"))
              for name in sorted(subpackages_imported(path))
              if name != pkg and rank_of.get(name, len(RANKS)) >= rank_of[pkg]]
    assert upward == []


def test_no_subpackage_is_too_big_and_no_module_too_long() -> None:
    crowded = {p.name: n for p in LOADTEST.iterdir() if p.is_dir() and p.name != "__pycache__"
               if (n := len(list(p.glob("*.py")))) > MAX_FILES}
    long = {str(p.relative_to(LOADTEST)): n for p in LOADTEST.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert crowded == {} and long == {}
