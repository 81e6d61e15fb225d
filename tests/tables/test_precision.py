"""Precision per list and match rule, on known sets of dispositions and hits."""

from __future__ import annotations

import pytest

from tables.precision import (
    Disposition,
    DispositionsInForce,
    HitCounter,
    HitSeen,
    PrecisionRow,
    precision,
    precision_rows,
    read_disposition,
    read_hit,
)

DAY_MS = 86_400_000
T0 = 1_795_000_000_000


def disposition(hit_id: str, outcome: str, *, list_name: str = "stolen-vehicles",
                match: str = "exact", reason: str | None = None, at: int = T0) -> Disposition:
    """Read a disposition built as a worker writes it, so the reader is part of each test."""
    value = {"hit_id": hit_id, "entry_id": "W-1", "list": list_name, "priority": 2,
             "source": "plate", "match": match, "outcome": outcome, "reason": reason,
             "note": "", "by": "desk", "at": at}
    read = read_disposition(value)
    assert read is not None
    return read


def rows_of(*dispositions: Disposition, since_ms: int | None = None,
            hits: dict[tuple[str, str], int] | None = None) -> dict[tuple[str, str], PrecisionRow]:
    in_force = DispositionsInForce()
    for d in dispositions:
        in_force.add(d)
    return {(r.list, r.match): r for r in precision_rows(in_force.since(since_ms), hits)}


def test_a_known_set_gives_counts_by_outcome_and_reason_and_the_precision() -> None:
    rows = rows_of(
        disposition("h-1", "confirmed"),
        disposition("h-2", "confirmed"),
        disposition("h-3", "confirmed"),
        disposition("h-4", "false_positive", reason="misread"),
        disposition("h-5", "no_action"),
        disposition("h-6", "false_positive", match="ocr-tolerant", reason="misread"),
        disposition("h-7", "false_positive", match="ocr-tolerant", reason="cloned_or_copied"),
        disposition("h-8", "confirmed", match="ocr-tolerant"),
        disposition("h-9", "confirmed", list_name="wanted-persons"),
    )
    assert list(rows) == [("stolen-vehicles", "exact"), ("stolen-vehicles", "ocr-tolerant"),
                          ("wanted-persons", "exact")]
    exact = rows["stolen-vehicles", "exact"]
    assert (exact.disposed, exact.confirmed, exact.false_positives, exact.no_action) == (5, 3, 1, 1)
    assert exact.false_positive_by_reason == {"misread": 1, "wrong_subject": 0,
                                              "cloned_or_copied": 0, "duplicate": 0, "other": 0}
    assert exact.precision == 0.75  # no_action is neither right nor wrong: not in the ratio
    ocr = rows["stolen-vehicles", "ocr-tolerant"]
    assert ocr.false_positive_by_reason["cloned_or_copied"] == 1
    assert ocr.precision == pytest.approx(1 / 3)
    assert rows["wanted-persons", "exact"].precision == 1.0
    assert exact.hits is None  # hits not counted


def test_the_latest_disposition_of_a_hit_is_the_one_counted() -> None:
    rows = rows_of(disposition("h-1", "false_positive", reason="misread", at=T0),
                   disposition("h-1", "confirmed", at=T0 + 5),
                   disposition("h-2", "confirmed", at=T0),
                   disposition("h-2", "no_action", at=T0 + 9))
    row = rows["stolen-vehicles", "exact"]
    assert (row.disposed, row.confirmed, row.false_positives, row.no_action) == (2, 1, 0, 1)


def test_log_order_decides_not_the_clock_of_the_worker_that_wrote_it() -> None:
    # The later record (a worker whose clock is behind) replaces the earlier, as compaction does.
    rows = rows_of(disposition("h-1", "confirmed", at=T0 + 1000),
                   disposition("h-1", "false_positive", reason="duplicate", at=T0))
    assert rows["stolen-vehicles", "exact"].false_positive_by_reason["duplicate"] == 1
    assert rows["stolen-vehicles", "exact"].confirmed == 0


def test_a_tombstone_removes_the_disposition() -> None:
    in_force = DispositionsInForce()
    in_force.add(disposition("h-1", "confirmed"))
    in_force.add(disposition("h-2", "confirmed"))
    in_force.remove("h-1")
    in_force.remove("h-unknown")
    assert [d.hit_id for d in in_force.since(None)] == ["h-2"]


def test_since_keeps_dispositions_recorded_at_or_after_it_judged_on_the_latest() -> None:
    since = T0 + 7 * DAY_MS
    rows = rows_of(
        disposition("h-old", "confirmed", at=since - 1),             # before: left out
        disposition("h-edge", "false_positive", reason="other", at=since),  # at: kept
        disposition("h-moved", "confirmed", at=since - DAY_MS),      # replaced after since:
        disposition("h-moved", "false_positive", reason="wrong_subject", at=since + 1),
        disposition("h-undone", "false_positive", reason="misread", at=since + 1),  # replaced
        disposition("h-undone", "confirmed", at=since - 2),          # by an older `at`: out
        since_ms=since)
    row = rows["stolen-vehicles", "exact"]
    assert (row.disposed, row.confirmed, row.false_positives) == (2, 0, 2)
    assert row.false_positive_by_reason["wrong_subject"] == 1
    assert row.precision == 0.0


def test_no_hit_judged_either_way_has_no_precision_not_zero() -> None:
    assert precision(0, 0) is None
    assert precision(0, 3) == 0.0
    row = rows_of(disposition("h-1", "no_action"))["stolen-vehicles", "exact"]
    assert row.precision is None
    assert row.as_dict()["precision"] is None


def test_hits_without_dispositions_get_a_row_and_disposed_lists_without_hits_count_zero() -> None:
    rows = rows_of(disposition("h-1", "confirmed"),
                   hits={("stolen-vehicles", "ocr-tolerant"): 4})
    assert rows["stolen-vehicles", "ocr-tolerant"].hits == 4
    assert rows["stolen-vehicles", "ocr-tolerant"].disposed == 0
    assert rows["stolen-vehicles", "ocr-tolerant"].precision is None
    assert rows["stolen-vehicles", "exact"].hits == 0


def test_the_json_row_names_every_count() -> None:
    row = rows_of(disposition("h-1", "false_positive", reason="duplicate"),
                  hits={("stolen-vehicles", "exact"): 3})["stolen-vehicles", "exact"]
    assert row.as_dict() == {
        "list": "stolen-vehicles", "match": "exact", "hits": 3, "disposed": 1, "confirmed": 0,
        "false_positive": 1,
        "false_positive_by_reason": {"misread": 0, "wrong_subject": 0, "cloned_or_copied": 0,
                                     "duplicate": 1, "other": 0},
        "no_action": 0, "precision": 0.0}


@pytest.mark.parametrize("broken", [
    None, [], "x", {},
    {"hit_id": "h-1", "list": "l", "match": "exact", "outcome": "maybe", "at": T0},
    {"hit_id": "h-1", "list": "l", "match": "exact", "outcome": "confirmed", "at": "soon"},
    {"hit_id": "h-1", "list": "l", "match": "exact", "outcome": "confirmed", "at": True},
    {"hit_id": 7, "list": "l", "match": "exact", "outcome": "confirmed", "at": T0},
    {"list": "l", "match": "exact", "outcome": "confirmed", "at": T0},
])
def test_a_record_that_is_not_a_disposition_is_not_read(broken: object) -> None:
    assert read_disposition(broken) is None


def test_a_false_positive_with_an_unknown_or_missing_reason_counts_as_other() -> None:
    assert disposition("h-1", "false_positive", reason="bad-luck").reason == "other"
    assert disposition("h-2", "false_positive").reason == "other"
    assert disposition("h-3", "confirmed", reason="misread").reason is None


def test_hits_are_counted_once_per_id_from_since_on() -> None:
    counter = HitCounter(since_ms=T0)
    for hit_id, match, detected in [("h-1", "exact", T0), ("h-1", "exact", T0),  # a replay
                                    ("h-2", "exact", T0 + 5), ("h-3", "exact", T0 - 1),
                                    ("h-4", "ocr-tolerant", T0 + 1)]:
        counter.add(HitSeen(hit_id, "stolen-vehicles", match, detected))
    assert counter.counts() == {("stolen-vehicles", "exact"): 2,
                                ("stolen-vehicles", "ocr-tolerant"): 1}


def test_a_hit_is_read_from_the_contract_fields() -> None:
    hit = {"hit_id": "h-5f1c0e8a9b7d2c44", "entry_id": "W-1", "list": "stolen-vehicles",
           "priority": 2, "source": "plate", "location_id": "C-0042", "observed_ts": T0,
           "detected_ts": T0 + 55, "match": "ocr-tolerant", "observed": {"plate": "K1Z345"}}
    assert read_hit(hit) == HitSeen("h-5f1c0e8a9b7d2c44", "stolen-vehicles", "ocr-tolerant",
                                    T0 + 55)
    assert read_hit({**hit, "detected_ts": None}) is None
    assert read_hit("h-1") is None
