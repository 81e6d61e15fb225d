"""Text from the network never reaches a terminal with its control characters raw."""

from __future__ import annotations

import pytest

from schemas.json import dumps, loads
from web.terminal import safe_json, safe_text

HOSTILE = ("S-\x1b]0;pwned\x07\x1b[31mred\x1b[0m\r\x08\x7f\x85\x9b2J\u2028\u2029"
           "\u202etxt.exe\u2066\u2069\u200f\u061c")
UNSAFE = ([chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7f, 0xa0)]
          + ["\u061c", "\u200e", "\u200f", "\u2028", "\u2029"]
          + [chr(c) for c in range(0x202a, 0x202f)] + [chr(c) for c in range(0x2066, 0x206a)])


def raw_unsafe(text: str) -> list[str]:
    return [c for c in text if c in UNSAFE]


def test_every_unsafe_character_is_escaped_in_text() -> None:
    shown = safe_text(HOSTILE)
    assert raw_unsafe(shown) == []
    assert shown.startswith("S-\\x1b]0;pwned\\x07\\x1b[31mred")
    assert "\\u202e" in shown and "\\x7f" in shown and "\\x85" in shown


@pytest.mark.parametrize("c", UNSAFE)
def test_each_unsafe_character(c: str) -> None:
    assert raw_unsafe(safe_text(f"a{c}b")) == []
    assert raw_unsafe(safe_json(dumps({"k": f"a{c}b"}).decode())) == []


def test_json_stays_json_of_the_same_value() -> None:
    text = safe_json(dumps({"location_id": HOSTILE, "n": 1}).decode())
    assert raw_unsafe(text) == []
    assert loads(text) == {"location_id": HOSTILE, "n": 1}


def test_plain_text_is_unchanged() -> None:
    text = "P1 wanted-persons at S-000123 鲁K·12345 é"
    assert safe_text(text) == text and safe_json(dumps(text).decode()) == dumps(text).decode()
