"""A worker's start: the kernels' warm-up beside it."""

from __future__ import annotations

import logging
import threading

import cli.worker


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
