"""The crash run's verdict: repeats of a hit_id (at-least-once after a kill) are counted,
not failed; a missed or unexpected hit, or a run that expected none, fails."""

from __future__ import annotations

from collections import Counter

from loadtest.faults.crash import CrashReport, summary
from loadtest.traffic.groundtruth import check_hits


def report(expected: list[str], read: list[str]) -> CrashReport:
    return CrashReport(kills=Counter(signal=1), records_sent=1_234,
                       hits=check_hits(expected, read, duplicates_allowed=True), seconds=3)


def test_a_hit_read_twice_does_not_fail_the_run() -> None:
    r = report(["a", "b"], ["a", "b", "a"])
    assert r.passed
    assert summary(r) == ("1 crashes survived (signal 1) in 3 s; 1,234 records sent; hits "
                          "expected 2, received 2, missed 0, unexpected 0, duplicated 1 "
                          "(same hit_id): PASSED")


def test_a_missed_or_unexpected_hit_or_none_expected_fails_the_run() -> None:
    assert not report(["a", "b"], ["a"]).passed
    assert not report(["a"], ["a", "x"]).passed
    assert not report([], []).passed
    assert not CrashReport().passed
