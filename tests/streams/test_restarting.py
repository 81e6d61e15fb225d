"""keep_running: a failing or returning reader is started again; cancellation ends it."""

from __future__ import annotations

import asyncio

import pytest

from streams.restarting import keep_running


def test_failures_and_returns_restart_the_reader_and_only_cancellation_stops_it(
        caplog) -> None:
    calls = []

    async def run() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("broker gone")
        if len(calls) == 3:
            raise asyncio.CancelledError  # a client's own task's, not this reader's
        if len(calls) == 4:
            await asyncio.sleep(3600)

    async def main() -> None:
        task = asyncio.create_task(keep_running("test reader", run, pause_s=0))
        while len(calls) < 4:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert calls == [0, 1, 2, 3]
    assert "test reader failed; restarting it" in caplog.text
    assert "test reader: a CancelledError not meant for it" in caplog.text
