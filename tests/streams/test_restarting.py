"""keep_running: a failing or returning reader is started again; cancellation ends it."""

from __future__ import annotations

import asyncio

import pytest

from streams.restarting import keep_running


def test_failures_and_returns_restart_the_reader_and_cancellation_stops_it(caplog) -> None:
    calls = []

    async def run() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("broker gone")
        if len(calls) == 3:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(keep_running("test reader", run, pause_s=0))
    assert calls == [0, 1, 2]
    assert "test reader failed; restarting it" in caplog.text
