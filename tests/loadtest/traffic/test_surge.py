"""The bench's send schedule with and without a surge."""

from __future__ import annotations

import numpy as np
import pytest

from loadtest.traffic.surge import Surge, due_times, rate_pieces


def test_without_a_surge_message_i_is_due_at_i_times_its_share_of_a_second() -> None:
    due = list(due_times(records_per_message=100, rate=3000.0, duration_s=2.0))
    per_message_s = 100 / 3000.0
    assert len(due) == int(2.0 / per_message_s) == 60
    assert due == [i * per_message_s for i in range(60)]


def test_a_surge_multiplies_the_rate_inside_its_window_only() -> None:
    surge = Surge(factor=3, at_s=2.0, for_s=1.0)
    due = np.array(list(due_times(100, 1000.0, 5.0, surge)))
    assert rate_pieces(1000.0, 5.0, surge) == [(0.0, 2.0, 1000.0), (2.0, 3.0, 3000.0),
                                               (3.0, 5.0, 1000.0)]
    # 1,000 records/s for 4 s and 3,000 for 1 s, 100 records a message.
    assert len(due) == 20 + 30 + 20
    assert np.all(np.diff(due) > 0)
    gaps_during = np.diff(due[(due >= 2.0) & (due < 3.0)])
    assert np.allclose(gaps_during, 0.1 / 3)
    assert np.allclose(np.diff(due[due >= 3.0]), 0.1)
    assert due[0] == 0.0 and due[20] == pytest.approx(2.0) and due[50] == pytest.approx(3.0)


@pytest.mark.parametrize(("surge", "pieces"), [
    (Surge(2, 0.0, 1.0), [(0.0, 1.0, 20.0), (1.0, 4.0, 10.0)]),     # at the start
    (Surge(2, 3.0, 60.0), [(0.0, 3.0, 10.0), (3.0, 4.0, 20.0)]),    # past the end: cut
    (Surge(2, 9.0, 1.0), [(0.0, 4.0, 10.0)]),                       # after the end: none
    (Surge(2, 1.0, 0.0), [(0.0, 1.0, 10.0), (1.0, 4.0, 10.0)]),     # of no length
])
def test_pieces_cover_the_duration_without_empty_ones(surge: Surge, pieces: list) -> None:
    assert rate_pieces(10.0, 4.0, surge) == pieces


def test_surge_end() -> None:
    assert Surge(4, 20.0, 60.0).end_s == 80.0
