"""Rental check-ins (guest registrations), kept to what a hit needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.normalize import DOC_TYPES, check_digit_ok, normalize_doc_number
from schemas.records import (
    Invalid,
    decode_records,
    required,
    required_choice,
    required_id,
    required_ts,
)
from schemas.rejection import Rejected


@dataclass(frozen=True, slots=True)
class CheckIn:
    """One guest registration.

    Name, birth date and nationality are dropped on purpose: the contract keeps only
    what a hit needs, and a check-in that matches nothing must leave no trace.
    """

    property_id: str
    ts: int
    doc_type: str
    doc_number: str


def decode_checkins(value: bytes) -> tuple[list[CheckIn], list[Rejected]]:
    """Decode a check-ins message (one JSON record or an array) into check-ins and rejections."""
    return decode_records(value, _parse_checkin)


def _parse_checkin(obj: dict[str, Any]) -> CheckIn:
    property_id = required_id(obj, "property_id", "bad_property_id")
    ts = required_ts(obj)
    doc_type = required_choice(obj, "doc_type", "bad_doc_type", DOC_TYPES)
    raw = required(obj, "doc_number")
    doc_number = normalize_doc_number(doc_type, raw)
    # Details name the rule, never the number: they reach logs, and a number names a person.
    if doc_number is None:
        raise Invalid("bad_doc_number", "doc_number: expected 1-32 characters once normalised")
    if not check_digit_ok(doc_type, doc_number):
        raise Invalid("bad_check_digit", "doc_number: fails the GB 11643 check digit")
    return CheckIn(property_id=property_id, ts=ts, doc_type=doc_type, doc_number=doc_number)
