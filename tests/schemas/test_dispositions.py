"""Disposition request bodies against a plain reference of the rules, and the record's
round trip."""

from __future__ import annotations

import unicodedata

import hypothesis.strategies as st
from hypothesis import given

from schemas.dispositions import (
    FALSE_POSITIVE_REASONS,
    NOTE_MAX_CHARS,
    OUTCOMES,
    RECORD_FIELDS,
    DispositionRequest,
    decode_disposition,
    encode_disposition,
    make_disposition,
    parse_disposition_request,
)
from schemas.hits import Hit
from schemas.json import dumps, loads
from schemas.rejection import Rejected

UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def reference(doc: dict) -> str | None:
    """The reason a body is refused, or None, written out plainly."""
    if set(doc) - {"outcome", "reason", "note"}:
        return "unknown_field"
    if doc.get("outcome") not in OUTCOMES:
        return "bad_outcome"
    reason = doc.get("reason")
    if doc["outcome"] == "false_positive":
        if reason is None:
            return "missing_reason"
        if reason not in FALSE_POSITIVE_REASONS:
            return "bad_reason"
    elif reason is not None:
        return "unexpected_reason"
    note = doc.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > NOTE_MAX_CHARS or any(
            unicodedata.category(c) in UNPRINTABLE for c in note)):
        return "bad_note"
    return None


notes = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20),
                  st.text(alphabet=st.sampled_from("aé車 \n\u202e\u3000"), min_size=495,
                          max_size=505))
bodies = st.fixed_dictionaries({}, optional={
    "outcome": st.sampled_from([*OUTCOMES, "maybe", None, 1]),
    "reason": st.sampled_from([*FALSE_POSITIVE_REASONS, "bad-luck", None, ""]),
    "note": notes,
    "by": st.just("x")})


@given(bodies)
def test_bodies_are_judged_like_the_reference(doc: dict) -> None:
    got = parse_disposition_request(dumps(doc))
    want = reference(doc)
    if want is None:
        assert got == DispositionRequest(doc["outcome"], doc.get("reason"), doc.get("note"))
    else:
        assert isinstance(got, Rejected) and got.reason == want


def test_bodies_that_are_not_objects_are_refused() -> None:
    for body, reason in ((b"", "bad_json"), (b"{", "bad_json"), (b"[1]", "not_a_record"),
                         (b'"confirmed"', "not_a_record")):
        got = parse_disposition_request(body)
        assert isinstance(got, Rejected) and got.reason == reason


def test_a_refusal_never_repeats_the_note() -> None:
    got = parse_disposition_request(dumps({"outcome": "confirmed", "note": "sécret\x1b" * 80}))
    assert isinstance(got, Rejected) and "sécret" not in got.detail


def test_the_record_has_the_contract_fields_and_round_trips() -> None:
    hit = Hit("h-00000000000000aa", "W-1", "stolen-vehicles", 2, "plate", "C-1", 5, 6,
              "ocr-tolerant", {"plate": "AB1"})
    d = make_disposition(hit, DispositionRequest("false_positive", "misread", None), "desk", 9)
    value = encode_disposition(d)
    assert list(loads(value)) == list(RECORD_FIELDS)
    assert loads(value) == {"hit_id": "h-00000000000000aa", "entry_id": "W-1",
                            "list": "stolen-vehicles", "priority": 2, "source": "plate",
                            "match": "ocr-tolerant", "outcome": "false_positive",
                            "reason": "misread", "note": None, "by": "desk", "at": 9}
    assert decode_disposition(value) == d
    assert d.shown() == {"outcome": "false_positive", "reason": "misread", "note": None,
                         "by": "desk", "at": 9}
