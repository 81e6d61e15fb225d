"""Plate reads: the contract example, each rule's reason, arrays with a bad element."""

from __future__ import annotations

import pytest

from schemas.json import dumps
from schemas.plates import PlateRead, decode_plate_reads

DROP = object()


def read(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "camera_id": "C-0042",
        "ts": 1795000000456,
        "plate": "鲁K·12345",
        "confidence": 0.91,
        "country": "CN",
        "lane": 2,
        "direction": "N",
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not DROP}


def test_contract_example_decodes() -> None:
    reads, rejected = decode_plate_reads(dumps(read()))
    assert rejected == []
    assert reads == [
        PlateRead(
            camera_id="C-0042",
            ts=1795000000456,
            plate="鲁K·12345",
            plate_norm="鲁K12345",
            confidence=0.91,
            country="CN",
        )
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"confidence": DROP, "country": DROP}, (None, None)),
        ({"confidence": None, "country": None}, (None, None)),
        ({"confidence": 1}, (1.0, "CN")),
        ({"confidence": 0}, (0.0, "CN")),
    ],
)
def test_optional_fields(changes: dict[str, object], expected: tuple[object, object]) -> None:
    reads, rejected = decode_plate_reads(dumps(read(**changes)))
    assert rejected == []
    assert (reads[0].confidence, reads[0].country) == expected


def test_plate_is_kept_as_read_and_normalised_beside() -> None:
    reads, _ = decode_plate_reads(dumps(read(plate=" ab-12.cd ", ts="2026-01-01T08:00:00+08:00")))
    assert (reads[0].plate, reads[0].plate_norm, reads[0].ts) == (
        " ab-12.cd ",
        "AB12CD",
        1767225600000,
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{]", "bad_json"),
        (b"true", "not_a_record"),
        (dumps(read(camera_id=DROP)), "missing_field"),
        (dumps(read(ts=DROP)), "missing_field"),
        (dumps(read(plate=DROP)), "missing_field"),
        (dumps(read(plate=None)), "missing_field"),
        (dumps(read(camera_id="")), "bad_camera_id"),
        (dumps(read(camera_id="C" * 65)), "bad_camera_id"),
        (dumps(read(camera_id=42)), "bad_camera_id"),
        (dumps(read(ts=1.5)), "bad_ts"),
        (dumps(read(ts="yesterday")), "bad_ts"),
        (dumps(read(plate="")), "bad_plate"),
        (dumps(read(plate=" - · . ")), "bad_plate"),
        (dumps(read(plate="A" * 17)), "bad_plate"),
        (dumps(read(plate=" " * 61 + "AB12")), "bad_plate"),  # 65 chars as read
        (dumps(read(plate=12345)), "bad_plate"),
        (dumps(read(confidence=1.01)), "bad_confidence"),
        (dumps(read(confidence=-0.1)), "bad_confidence"),
        (dumps(read(confidence=True)), "bad_confidence"),
        (dumps(read(confidence="0.9")), "bad_confidence"),
        (dumps(read(country="")), "bad_country"),
        (dumps(read(country="C" * 9)), "bad_country"),
        (dumps(read(country=86)), "bad_country"),
    ],
)
def test_each_rule_has_its_reason(value: bytes, reason: str) -> None:
    reads, rejected = decode_plate_reads(value)
    assert reads == []
    assert [(r.reason, r.index) for r in rejected] == [(reason, None)]


def test_bad_element_of_an_array_is_rejected_alone() -> None:
    value = dumps([read(ts=1), read(ts=2), read(plate="-"), [], read(ts=5)])
    reads, rejected = decode_plate_reads(value)
    assert [r.ts for r in reads] == [1, 2, 5]
    assert [(r.reason, r.index) for r in rejected] == [("bad_plate", 2), ("not_a_record", 3)]
