"""The decoder fuzzer: a short run is clean, and it does report what it is there to find."""

from __future__ import annotations

import pytest

from loadtest.faults import fuzz
from schemas.rejection import Rejected


def test_a_short_run_breaks_every_rule_and_no_decoder_fails() -> None:
    report = fuzz.run(24_000, seed=3)  # a multiple of the number of kinds
    assert report["failures"] == []
    assert report["inputs"] == 24_000
    seen = {kind: set(k["rejections"]) for kind, k in report["kinds"].items()}
    assert {"bad_json", "missing_field", "bad_ts"} <= seen["sensing_json"]
    assert {"bad_batch_length", "bad_ts", "bad_id_type", "bad_device_id"} <= seen["sensing_binary"]
    assert {"bad_json", "missing_field", "bad_ts"} <= seen["plates"]
    assert {"bad_json", "bad_doc_number", "bad_doc_type"} <= seen["checkins"]
    assert {"bad_json", "missing_field", "bad_op"} <= seen["watchlist"]
    assert {"bad_json", "missing_field", "bad_kind", "bad_areas", "bad_lat"} <= seen["locations"]


def _raises(value: bytes) -> list[Rejected]:
    raise ValueError("boom")


@pytest.mark.parametrize(("decoder", "finding"), [
    (_raises, "ValueError: boom"),
    (lambda v: [Rejected("no_such_reason", "x")], "unknown reason"),
    (lambda v: [Rejected("bad_json", "two\nlines")], "one bounded line"),
])
def test_escapes_and_bad_rejections_are_reported(monkeypatch, decoder, finding) -> None:
    monkeypatch.setattr(fuzz, "KINDS", {"plates": (fuzz.KINDS["plates"][0], decoder)})
    report = fuzz.run(5, seed=1)
    assert len(report["failures"]) == 5
    assert all(finding in f["error"] and f["kind"] == "plates" for f in report["failures"])
