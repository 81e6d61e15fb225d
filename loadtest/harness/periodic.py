"""A thread that does one thing at a steady pace until it is stopped."""

from __future__ import annotations

import threading
import time


class Periodic:
    """Calls `tick()` every `every_s` seconds in a daemon thread, from `start()` to `stop()`."""

    def __init__(self, every_s: float) -> None:
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def tick(self) -> None:
        """One step; subclasses say what it does."""
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            time.sleep(self._every_s)

    def start(self) -> None:
        """Start ticking."""
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking (safe to call twice, and before `start`)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
