"""Suppression against a plain reference: per (entry, location), hits at least a window apart."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given

from schemas.hits import Hit, make_hit_id
from tables.suppression import Suppression

WINDOW = 300_000


def hit(entry_id: str, location_id: str, ts: int) -> Hit:
    return Hit(hit_id=make_hit_id(entry_id, "sensing", location_id, ts), entry_id=entry_id,
               list="l", priority=1, source="sensing", location_id=location_id, observed_ts=ts,
               detected_ts=ts, match="exact", observed={})


def reference(matches: list[Hit], window: int) -> list[Hit]:
    """A match becomes a hit unless a hit of its pair lies within the window of it."""
    sent: list[Hit] = []
    for m in matches:
        if all(abs(m.observed_ts - h.observed_ts) >= window for h in sent
               if (h.entry_id, h.location_id) == (m.entry_id, m.location_id)):
            sent.append(m)
    return sent


@given(st.lists(st.tuples(st.sampled_from(["W-1", "W-2"]), st.sampled_from(["S-1", "S-2"]),
                          st.integers(0, 1_000_000)), max_size=40))
def test_admits_like_the_reference_when_time_moves_forward(events) -> None:
    matches = [hit(e, loc, ts) for e, loc, ts in sorted(events, key=lambda x: x[2])]
    s = Suppression(WINDOW)
    assert [m for m in matches if s.admit(m)] == reference(matches, WINDOW)


def test_ten_sightings_at_one_sensor_give_one_hit_two_sensors_two() -> None:
    s = Suppression(WINDOW)
    one = [s.admit(hit("W-1", "S-1", 1000 + i)) for i in range(10)]
    assert one.count(True) == 1
    assert s.admit(hit("W-1", "S-2", 1005))
    assert s.admit(hit("W-1", "S-1", 1000 + WINDOW))  # a window after the first hit: new hit


def test_hits_read_back_suppress_a_replay_of_the_same_record() -> None:
    s = Suppression(WINDOW)
    s.remember("W-1", "S-1", 5000)
    assert not s.admit(hit("W-1", "S-1", 5000))
    assert not s.admit(hit("W-1", "S-1", 5000 - WINDOW + 1))
    assert s.admit(hit("W-1", "S-1", 5000 - WINDOW))


def test_forget_before_bounds_the_state() -> None:
    s = Suppression(WINDOW)
    s.remember("W-1", "S-1", 10)
    s.remember("W-2", "S-1", 20)
    assert s.forget_before(15) == 1
    assert len(s) == 1
