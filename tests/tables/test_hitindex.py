"""The hit position index against a plain dict of the last `capacity` hits noted."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given

from schemas.hits import make_hit_id
from tables.hitindex import HitIndex, hit_id_number

IDS = [make_hit_id(f"W-{i}", "sensing", "S-1", i) for i in range(8)]


def reference(notes: list[tuple[str, int, int]], capacity: int) -> dict[str, tuple[int, int]]:
    """The newest position of each id among the last `capacity` notes."""
    kept: dict[str, tuple[int, int]] = {}
    for hit_id, partition, offset in notes[max(0, len(notes) - capacity):] if capacity else []:
        kept[hit_id] = (partition, offset)
    return kept


@given(notes=st.lists(st.tuples(st.sampled_from(IDS), st.integers(0, 1023),
                                st.integers(0, 2**47 - 1)), max_size=40),
       capacity=st.integers(0, 12))
def test_find_matches_the_last_capacity_notes(notes: list[tuple[str, int, int]],
                                              capacity: int) -> None:
    index = HitIndex(capacity)
    for note in notes:
        index.note(*note)
    want = reference(notes, capacity)
    assert {h: index.find(h) for h in IDS} == {h: want.get(h) for h in IDS}


def test_what_is_not_a_hit_id_is_never_noted_nor_found() -> None:
    index = HitIndex(4)
    for bad in ("h-0123", "h-0123456789ABCDEF", "x-0123456789abcdef", "h-0123456789abcdef0",
                "", "h-０123456789abcdef"):
        assert hit_id_number(bad) is None
        index.note(bad, 0, 1)
        assert index.find(bad) is None
    assert index.size == 0
    assert hit_id_number("h-00000000000000ff") == 255
