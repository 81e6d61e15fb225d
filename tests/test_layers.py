"""The package layers of docs/architecture.md: each package imports only layers below it,
and nothing that ships in the product imports the load-test harness."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def declared_layers() -> list[list[str]]:
    """Return the ranks of the `Layers:` line, lowest first, each a list of packages."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.startswith("Layers: ")]
    assert len(lines) == 1, "docs/architecture.md needs exactly one `Layers: ...` line"
    return [rank.split() for rank in lines[0].removeprefix("Layers: ").split(" < ")]


def imported_packages(path: Path) -> set[str]:
    """Return the top-level names `path` imports (at any depth of its code)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def layer_violations(ranks: list[list[str]]) -> list[str]:
    """Return one line per import of a package from its own rank's peers or a higher rank."""
    rank_of = {pkg: i for i, rank in enumerate(ranks) for pkg in rank}
    found = []
    for pkg, rank in rank_of.items():
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for name in sorted(imported_packages(path)):
                if name != pkg and name in rank_of and rank_of[name] >= rank:
                    found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def package_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Return, per top-level package under `root`, the other packages it imports."""
    packages = sorted(p.parent.name for p in root.glob("*/__init__.py"))
    return {pkg: {name for path in (root / pkg).rglob("*.py")
                  for name in imported_packages(path) if name in packages and name != pkg}
            for pkg in packages}


def test_every_package_is_declared_once() -> None:
    ranks = declared_layers()
    declared = [pkg for rank in ranks for pkg in rank]
    assert len(declared) == len(set(declared))
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert on_disk <= set(declared), f"not on the Layers line: {on_disk - set(declared)}"


def test_packages_import_only_layers_below() -> None:
    assert layer_violations(declared_layers()) == []


def test_the_product_never_imports_loadtest() -> None:
    ranks = declared_layers()
    product = [pkg for rank in ranks for pkg in rank if pkg != "loadtest"]
    offenders = [str(path.relative_to(ROOT)) for pkg in product
                 for path in sorted((ROOT / pkg).rglob("*.py"))
                 if "loadtest" in imported_packages(path)]
    assert offenders == []


@pytest.mark.parametrize(("ranks", "source", "expected"), [
    ([["schemas"], ["tables"]], "import tables.index\n", True),
    ([["schemas"], ["tables"]], "from tables import index\n", True),
    ([["schemas"], ["tables"]], "def f():\n    from tables.index import warm_up\n", True),
    ([["schemas"], ["tables"]], "from numpy import array\n", False),
    ([["config", "schemas"]], "from config.settings import Settings\n", True),
])
def test_the_check_sees_upward_and_sideways_imports(tmp_path, monkeypatch, ranks, source,
                                                     expected) -> None:
    # Proves the check can fail: a lower package that imports a higher (or same-rank) one.
    for rank in ranks:
        for pkg in rank:
            (tmp_path / pkg).mkdir()
            (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / ranks[0][-1] / "bad.py").write_text(source)
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert bool(layer_violations(ranks)) is expected


def test_layers_line_format() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert re.search(r"^Layers: \w+( \w+)*( < \w+( \w+)*)+$", text, re.M)


if __name__ == "__main__":
    # `python tests/test_layers.py [ROOT]` prints the package graph (of another checkout too).
    import sys

    for pkg, deps in package_graph(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT).items():
        print(f"{pkg} -> {', '.join(sorted(deps)) or '(none)'}")
