"""Text from the network made safe for a terminal: no character that a terminal or a
reader would take as something other than text reaches it raw.

Escaped: C0 controls and DEL (ESC, BEL, CR, ...), C1 controls (0x80-0x9f), the line and
paragraph separators U+2028/U+2029, and the bidirectional controls (U+061C, U+200E/200F,
U+202A-202E, U+2066-2069) that reorder what a line shows.
"""

from __future__ import annotations

import re

_UNSAFE = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE_RE = re.compile(f"[{_UNSAFE}]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m[0])
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def safe_text(text: str) -> str:
    """Return `text` with every unsafe character shown as an escape (ESC as `\\x1b`)."""
    return _UNSAFE_RE.sub(_escape, text)


def safe_json(text: str) -> str:
    """Return compact JSON text with every unsafe character as a JSON escape (`\\u001b`),
    so it still parses to the same value (orjson escapes only those below 0x20)."""
    return _UNSAFE_RE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)
