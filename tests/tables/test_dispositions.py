"""The disposition book: the one furthest on in its partition is in force, memory is
bounded, and reading older records back never brings back a replaced disposition."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from schemas.dispositions import Disposition
from schemas.hits import make_hit_id
from tables.dispositions import DispositionBook


def disposition(n: int, outcome: str = "confirmed", at: int = 1000) -> Disposition:
    return Disposition(make_hit_id("W-1", "sensing", "S-1", n), "W-1", "l", 1, "sensing",
                       "exact", outcome, None, None, "desk", at)


def test_the_last_record_read_is_in_force_and_a_tombstone_removes_it() -> None:
    book = DispositionBook(10)
    d = disposition(1)
    book.apply(d, 0, 5)
    book.apply(replace(d, outcome="no_action"), 0, 9)
    assert book.get(d.hit_id) == replace(d, outcome="no_action")
    book.forget(d.hit_id, 0, 11)
    assert book.get(d.hit_id) is None and len(book) == 0


def test_past_capacity_only_positions_are_kept_and_a_fetch_brings_one_back() -> None:
    book = DispositionBook(2)
    ds = [disposition(n) for n in range(5)]
    for n, d in enumerate(ds):
        book.apply(d, n % 2, 100 + n)
    assert book.get(ds[0].hit_id) == (0, 100)
    assert book.get(ds[3].hit_id) == ds[3] and book.get(ds[4].hit_id) == ds[4]
    book.apply(ds[0], 0, 100)  # fetched again by its position
    assert book.get(ds[0].hit_id) == ds[0]
    assert book.get(ds[3].hit_id) == (1, 103)  # the least recently used made way
    assert len(book) == 5


def test_records_read_back_after_a_newer_one_was_recorded_leave_the_newer_in_force() -> None:
    # The POST records its own write at once; the reader may still be reading older ones.
    book = DispositionBook(10)
    first = disposition(1, "confirmed", at=1000)
    second = disposition(1, "no_action", at=2000)
    book.apply(second, 0, 8)  # recorded by this worker when the broker acked it
    book.apply(first, 0, 7)  # then the reader reads the first one
    assert book.get(first.hit_id) == second
    book.forget(first.hit_id, 0, 6)  # an older tombstone withdraws nothing newer
    assert book.get(first.hit_id) == second
    book.apply(second, 0, 8)  # read back: the same
    assert book.get(first.hit_id) == second


def test_position_not_clock_decides_between_two_workers() -> None:
    book = DispositionBook(10)
    mine = disposition(1, "confirmed", at=5000)
    book.apply(mine, 0, 3)
    theirs = disposition(1, "false_positive", at=4000)  # a worker whose clock is behind
    book.apply(theirs, 0, 4)
    assert book.get(mine.hit_id) == theirs
    book.forget(mine.hit_id, 0, 5)
    assert book.get(mine.hit_id) is None


def test_an_older_record_does_not_replace_a_newer_one_held_only_by_position() -> None:
    book = DispositionBook(1)
    first, second = disposition(1, at=1000), disposition(1, "no_action", at=2000)
    book.apply(second, 0, 8)
    book.apply(disposition(2), 0, 9)  # pushes the first hit's disposition out to a position
    assert book.get(first.hit_id) == (0, 8)
    book.apply(first, 0, 7)
    assert book.get(first.hit_id) == (0, 8)


@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=30),
       st.randoms(use_true_random=False), st.integers(1, 4))
def test_whatever_the_order_the_furthest_on_applied_is_in_force(
        writes: list[tuple[int, bool]], rnd: random.Random, capacity: int) -> None:
    # Records at offsets 0.. of one partition (hit, tombstone?); each is taken as the reader
    # reads it, in offset order, and some also as written by this worker: when the broker
    # acked them, which may be before or after the reader got to them.
    book = DispositionBook(capacity)
    records = [(disposition(hit, at=offset), tomb) for offset, (hit, tomb) in enumerate(writes)]
    takes = list(range(len(records)))
    for offset, (_, tomb) in enumerate(records):
        if not tomb and rnd.random() < 0.5:
            takes.insert(rnd.randint(0, len(takes)), offset)
    taken: set[int] = set()
    for offset in takes:
        d, tomb = records[offset]
        (book.forget(d.hit_id, 0, offset) if tomb else book.apply(d, 0, offset))
        taken.add(offset)
        for hit in range(4):
            hit_id = disposition(hit).hit_id
            last = max((o for o in taken if records[o][0].hit_id == hit_id), default=None)
            held = book.get(hit_id)
            if isinstance(held, tuple):  # kept by position only: fetched back, as the feed does
                book.apply(records[held[1]][0], *held)
                held = book.get(hit_id)
            expected = None if last is None or records[last][1] else records[last][0]
            assert held == expected
