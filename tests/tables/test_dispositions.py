"""The disposition book: the latest read from the topic is in force, memory is bounded,
and a worker's own provisional copy never hides a newer one."""

from __future__ import annotations

from dataclasses import replace

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
    book.forget(d.hit_id)
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


def test_a_provisional_copy_never_replaces_a_newer_one() -> None:
    book = DispositionBook(10)
    newer = disposition(1, "no_action", at=2000)
    book.apply(newer, 0, 7)
    book.record(disposition(1, "confirmed", at=1500))
    assert book.get(newer.hit_id) == newer
    mine = disposition(1, "false_positive", at=2500)
    book.record(mine)
    assert book.get(newer.hit_id) == mine
