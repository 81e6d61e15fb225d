"""The collector paused around batch work, and as it was after."""

from __future__ import annotations

import gc

from streams.collector import collector_paused


def test_the_collector_is_paused_in_the_block_and_as_it_was_after() -> None:
    assert gc.isenabled()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled()
        gc.disable()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # left off: it was off before
    finally:
        gc.enable()
    try:
        with collector_paused():
            raise KeyError("in the block")
    except KeyError:
        pass
    assert gc.isenabled()
