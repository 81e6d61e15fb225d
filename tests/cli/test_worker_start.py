"""A worker's start: the kernels' warm-up beside it, and no plugin imported for it."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading

import pytest

import cli.worker
from cli.main import _verb


def test_the_warm_up_runs_in_another_thread_and_sets_the_event_once_done(monkeypatch) -> None:
    release, seen = threading.Event(), []

    def warm_up() -> None:
        seen.append(threading.current_thread())
        release.wait(10)

    monkeypatch.setattr(cli.worker, "warm_up", warm_up)
    ready = cli.worker.warm_up_meanwhile()
    assert not ready.wait(0.2)  # the caller went on while the kernels compile
    release.set()
    assert ready.wait(10)
    assert seen and seen[0] is not threading.current_thread()


def test_a_failed_warm_up_is_logged_and_still_ends(monkeypatch, caplog) -> None:
    def warm_up() -> None:
        raise RuntimeError("no compiler")

    monkeypatch.setattr(cli.worker, "warm_up", warm_up)
    with caplog.at_level(logging.ERROR, logger="vigil.worker"):
        assert cli.worker.warm_up_meanwhile().wait(10)
    assert "compiles on its first use" in caplog.text


@pytest.mark.parametrize(("argv", "verb"), [
    (["worker"], "worker"),
    (["--config", "x.toml", "worker"], "worker"),
    (["--config=x.toml", "loadtest", "bench"], "loadtest"),
    (["--help"], None),
    ([], None),
    (["--config", "x.toml"], None),
])
def test_the_verb_is_the_first_word_past_the_options(argv: list[str], verb: str | None) -> None:
    assert _verb(argv) == verb


def test_a_product_verb_does_not_import_the_plugins_and_a_plugin_verb_does() -> None:
    script = ("import sys, cli.main\n"
              "cli.main.main(sys.argv[1:])\n"
              "print(any(m.startswith('loadtest') for m in sys.modules))\n")
    product = subprocess.run([sys.executable, "-c", script, "settings"], capture_output=True,
                             text=True, timeout=60, check=True)
    assert product.stdout.splitlines()[-1] == "False"
    plugin = subprocess.run([sys.executable, "-c", script, "loadtest", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert "watchlist-bench" in plugin.stdout  # argparse's --help exits before the print
