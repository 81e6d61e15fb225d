"""The worker's current access list, re-read when its file changes or on SIGHUP.

A token is rotated by editing the subscribers file: the new hash applies within
`access.reload_interval_s`, without a restart. A file that no longer parses is refused
with one log line and the previous list stays in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from config.settings import SettingsError
from config.subscribers import AccessList, load_access_list

log = logging.getLogger(__name__)


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class AccessControl:
    """Holds the access list in force; `current` is what requests are checked against."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp = _stamp(path) if path else None
        self.current: AccessList = load_access_list(path)

    def reload(self) -> bool:
        """Re-read the file; return True if the new list is in force."""
        self._stamp = _stamp(self.path)
        try:
            self.current = load_access_list(self.path)
        except SettingsError as exc:
            log.error("subscribers file refused, previous list kept: %s", exc)
            return False
        names = sorted(p.name for p in self.current.by_token_hash.values())
        log.info("subscribers file reloaded: %d principals (%s)", len(names), ", ".join(names))
        return True

    async def watch(self, interval_s: float) -> None:
        """Reload on SIGHUP and whenever the file's modification time or size changes."""
        if not self.path:
            return
        hangup = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, hangup.set)
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(hangup.wait(), interval_s)
                if hangup.is_set() or _stamp(self.path) != self._stamp:
                    hangup.clear()
                    self.reload()
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
