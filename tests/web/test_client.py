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
