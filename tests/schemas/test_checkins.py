"""Check-ins: the contract example, check digits, privacy, each rule's reason."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from schemas.checkins import CheckIn, decode_checkins
from schemas.json import dumps

DROP = object()
EXAMPLE_ID = "371002199001011237"


def checkin(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "property_id": "P-7781",
        "ts": 1795000000789,
        "doc_type": "national_id",
        "doc_number": EXAMPLE_ID,
        "name": "...",
        "birth_date": "1990-01-01",
        "nationality": "CN",
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not DROP}


def test_contract_example_decodes_and_keeps_only_what_a_hit_needs() -> None:
    checkins, rejected = decode_checkins(dumps(checkin()))
    assert rejected == []
    assert checkins == [CheckIn("P-7781", 1795000000789, "national_id", EXAMPLE_ID)]
    assert {f.name for f in dataclasses.fields(CheckIn)} == {
        "property_id",
        "ts",
        "doc_type",
        "doc_number",
    }


def test_computed_national_id_with_x_check_passes(national_id: Callable[[str], str]) -> None:
    ids = (national_id(f"1101051985072{n:04d}") for n in range(100))
    number = next(i for i in ids if i.endswith("X"))
    checkins, rejected = decode_checkins(dumps(checkin(doc_number=number.lower())))
    assert rejected == []
    assert checkins[0].doc_number == number


@pytest.mark.parametrize(
    ("doc_type", "raw", "normalised"),
    [
        ("passport", " e1234 5678 ", "E12345678"),
        ("other", "ab\t12", "AB12"),
        ("national_id", "371002900101123", "371002900101123"),  # 15 chars: no check digit
        ("national_id", "3710 0219 9001 0112 37", EXAMPLE_ID),
    ],
)
def test_doc_numbers_are_normalised(doc_type: str, raw: str, normalised: str) -> None:
    checkins, rejected = decode_checkins(dumps(checkin(doc_type=doc_type, doc_number=raw)))
    assert rejected == []
    assert checkins[0].doc_number == normalised


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "bad_json"),
        (b"[[]]", "not_a_record"),
        (dumps(checkin(property_id=DROP)), "missing_field"),
        (dumps(checkin(ts=DROP)), "missing_field"),
        (dumps(checkin(doc_type=DROP)), "missing_field"),
        (dumps(checkin(doc_number=DROP)), "missing_field"),
        (dumps(checkin(property_id="")), "bad_property_id"),
        (dumps(checkin(property_id=7781)), "bad_property_id"),
        (dumps(checkin(ts=-5)), "bad_ts"),
        (dumps(checkin(doc_type="NATIONAL_ID")), "bad_doc_type"),
        (dumps(checkin(doc_type="visa")), "bad_doc_type"),
        (dumps(checkin(doc_number=" \t ")), "bad_doc_number"),
        (dumps(checkin(doc_type="passport", doc_number="E" * 33)), "bad_doc_number"),
        (dumps(checkin(doc_number=371002199001011237)), "bad_doc_number"),
        (dumps(checkin(doc_number="371002199001011238")), "bad_check_digit"),
        (dumps(checkin(doc_number="37100219900101123A")), "bad_check_digit"),
    ],
)
def test_each_rule_has_its_reason(value: bytes, reason: str) -> None:
    checkins, rejected = decode_checkins(value)
    assert checkins == []
    index = 0 if value.startswith(b"[") else None
    assert [(r.reason, r.index) for r in rejected] == [(reason, index)]


def test_details_do_not_repeat_document_numbers() -> None:
    _, rejected = decode_checkins(dumps([checkin(doc_number="371002199001011238")]))
    assert rejected[0].index == 0
    assert "371002199001011238" not in rejected[0].detail


def test_bad_element_of_an_array_is_rejected_alone() -> None:
    value = dumps([checkin(ts=1), checkin(doc_type="visa"), checkin(ts=3)])
    checkins, rejected = decode_checkins(value)
    assert [c.ts for c in checkins] == [1, 3]
    assert [(r.reason, r.index) for r in rejected] == [("bad_doc_type", 1)]
