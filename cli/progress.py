"""A one-line progress display on the terminal: redrawn in place on a tty, a plain line
every few seconds otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 24
REDRAW_EVERY_S = 0.2


def bar(fraction: float) -> str:
    """Return a text bar of `fraction` (0-1) done, e.g. `[######------]`."""
    done = round(max(0.0, min(1.0, fraction)) * BAR_WIDTH)
    return "[" + "#" * done + "-" * (BAR_WIDTH - done) + "]"


class ProgressLine:
    """Show the latest status line; call `done()` to end it with a newline."""

    def __init__(self, stream: TextIO | None = None, plain_every_s: float = 5.0) -> None:
        # Looked up now, not at import: sys.stderr may have been replaced since.
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.plain_every_s = plain_every_s
        self._last_plain = 0.0
        self._width = 0

    def show(self, text: str) -> None:
        """Redraw the line (tty), or print it if the last print is old enough (not a tty)."""
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        elif time.monotonic() - self._last_plain >= self.plain_every_s:
            self._last_plain = time.monotonic()
            self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """Print a line of its own (a warning, a refusal) above the status line."""
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def done(self, text: str) -> None:
        """Write the final status and end the line."""
        self.stream.write(("\r" + text.ljust(self._width) if self.tty else text) + "\n")
        self.stream.flush()


class ProgressBar:
    """A ProgressLine of a file being loaded: `label  42% [####----]  12.3 MB`, redrawn at
    most every REDRAW_EVERY_S, and only on a terminal (a log stays clean)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.line = ProgressLine(stream)
        self.shown = self.line.tty
        self._drawn_at = 0.0

    def update(self, done: int, total: int) -> None:
        """Show `done` of `total` bytes (total 0: unknown, the bytes alone)."""
        now = time.monotonic()
        if not self.shown or now - self._drawn_at < REDRAW_EVERY_S:
            return
        self._drawn_at = now
        share = f"{min(done / total, 1.0):4.0%} {bar(done / total)}  " if total > 0 else ""
        self.line.show(f"{self.label}  {share}{done / 1e6:.1f} MB")

    def close(self) -> None:
        """End the bar's line, so what is printed next starts on a line of its own."""
        if self.shown and self._drawn_at:
            self.line.note("")
            self._drawn_at = 0.0
