"""A one-line progress bar on a terminal, for loads of large files."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30
REDRAW_EVERY_S = 0.2


class ProgressBar:
    """Draws `label  42% [############------------------]  12.3 MB` on `stream`, at most
    every REDRAW_EVERY_S, and only when `stream` is a terminal (a log stays clean)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.shown = self.stream.isatty()
        self._drawn_at = 0.0

    def update(self, done: int, total: int) -> None:
        """Show `done` of `total` bytes (total 0: unknown, the bytes alone)."""
        now = time.monotonic()
        if not self.shown or now - self._drawn_at < REDRAW_EVERY_S:
            return
        self._drawn_at = now
        if total > 0:
            share = min(done / total, 1.0)
            filled = int(share * WIDTH)
            bar = f"{share:4.0%} [{'#' * filled}{'-' * (WIDTH - filled)}]"
        else:
            bar = ""
        self.stream.write(f"\r{self.label}  {bar}  {done / 1e6:.1f} MB")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line, so what is printed next starts on a line of its own."""
        if self.shown and self._drawn_at:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn_at = 0.0
