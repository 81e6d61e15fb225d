"""The console line `vigil subscribe` prints for a hit."""

from __future__ import annotations

from web.client import PRIORITY_COLOURS, RESET, format_hit

HIT = {"hit_id": "h-1", "entry_id": "W-1", "list": "wanted-persons", "priority": 1,
       "location_id": "S-000123", "observed_ts": 1_795_000_000_000,
       "observed": {"id_type": "mac", "device_id": "a45e60d1229f"}}


def test_a_hit_line_names_list_location_entry_and_age() -> None:
    line = format_hit(HIT, 1_795_000_002_500, colour=False)
    for part in ("P1", "wanted-persons", "S-000123", "W-1", "(2.5 s ago)", "a45e60d1229f",
                 "[h-1]"):
        assert part in line
    assert "\x1b" not in line


def test_colour_follows_priority() -> None:
    line = format_hit({**HIT, "priority": 3}, 1_795_000_000_000, colour=True)
    assert line.startswith(PRIORITY_COLOURS[3]) and line.endswith(RESET)


def test_control_characters_in_a_hit_never_reach_the_terminal_raw() -> None:
    hostile = {**HIT, "location_id": "S-\x1b]0;owned\x07\x1b[2J", "entry_id": "W-\u202e1",
               "list": "l\x7f\x9b", "observed": {"plate": "AB\u2028C"}, "hit_id": "h-\x85"}
    for colour in (False, True):
        line = format_hit(hostile, 1_795_000_002_500, colour=colour)
        body = line.removeprefix(PRIORITY_COLOURS[1]).removesuffix(RESET) if colour else line
        assert not any(c in body for c in "\x1b\x07\x7f\x9b\x85\u2028\u202e"), body
        assert "S-\\x1b]0;owned\\x07\\x1b[2J" in body
