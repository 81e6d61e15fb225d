"""Consumer lag as Kafka's tools count it: end offset minus the committed offset."""

from __future__ import annotations

from agents.consumer_lag import consumer_lag

A, B, C = ("vigil.sensing", 0), ("vigil.sensing", 1), ("vigil.plates", 0)


def test_lag_is_end_minus_committed() -> None:
    assert consumer_lag({A: 120, B: 7}, {A: 100, B: 7}, {A: 0, B: 0}) == {A: 20, B: 0}


def test_without_a_committed_offset_everything_from_the_earliest_is_lag() -> None:
    # -1 is what OffsetFetch answers for a partition the group never committed.
    assert consumer_lag({A: 50, B: 50, C: 9}, {B: -1}, {A: 10, B: 0, C: 9}) == {
        A: 40, B: 50, C: 0}


def test_lag_is_never_negative() -> None:
    # The end offset is read before the committed one; a commit in between passes it.
    assert consumer_lag({A: 10}, {A: 12}, {A: 0}) == {A: 0}
