"""Rejections: the dead-letter payload, the reason set, and decoders that never raise."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.checkins import decode_checkins
from schemas.json import dumps, loads
from schemas.plates import decode_plate_reads
from schemas.rejection import REASONS, Rejected, encode_deadletter, short_repr
from schemas.sensing import SENSING_CONTENT_TYPE, decode_sensing
from schemas.watchlist import decode_watchlist_command

SETTINGS = settings(max_examples=200, deadline=None, database=None)


def test_deadletter_has_the_contract_fields() -> None:
    payload = loads(encode_deadletter(Rejected("bad_ts", "ts: bad"), b"{}", "vigil.plates", 3, 42))
    assert payload == {
        "reason": "bad_ts",
        "detail": "ts: bad",
        "source_topic": "vigil.plates",
        "partition": 3,
        "offset": 42,
        "value_b64": base64.b64encode(b"{}").decode(),
        "truncated": False,
    }


def test_deadletter_names_the_index_of_a_record_in_a_batch() -> None:
    rejected = Rejected("bad_rssi", "rssi: bad", index=7)
    payload = loads(encode_deadletter(rejected, b"[]", "vigil.sensing", None, None))
    assert (payload["index"], payload["partition"], payload["offset"]) == (7, None, None)


@pytest.mark.parametrize(("size", "truncated"), [(0, False), (100, False), (101, True)])
def test_deadletter_value_is_cut_at_the_limit(size: int, truncated: bool) -> None:
    value = bytes(range(256)) * 2
    value = value[:size]
    payload = loads(
        encode_deadletter(Rejected("too_large", "x"), value, "t", 0, 0, max_value_bytes=100)
    )
    assert base64.b64decode(payload["value_b64"]) == value[:100]
    assert payload["truncated"] is truncated


def test_default_cut_is_64_kib() -> None:
    value = b"x" * (65536 + 1)
    payload = loads(encode_deadletter(Rejected("too_large", "x"), value, "t", 0, 0))
    assert len(base64.b64decode(payload["value_b64"])) == 65536
    assert payload["truncated"] is True


def test_tombstone_dead_letters_as_empty() -> None:
    payload = loads(encode_deadletter(Rejected("bad_json", "no value"), None, "t", 0, 0))
    assert (payload["value_b64"], payload["truncated"]) == ("", False)


def test_rejected_is_a_frozen_value() -> None:
    rejected = Rejected("bad_ts", "x")
    assert rejected.index is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        rejected.reason = "other"  # type: ignore[misc]


def test_reasons_are_bounded_snake_case_labels() -> None:
    assert {"too_large", "internal_error", "bad_check_digit"} <= REASONS
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", reason) for reason in REASONS)


@SETTINGS
@given(st.one_of(st.text(), st.binary(), st.lists(st.integers())))
def test_short_repr_is_one_short_line(value: object) -> None:
    text = short_repr(value)
    assert len(text) <= 60
    assert "\n" not in text


# Arbitrary JSON, and valid records with a few fields deleted or replaced by arbitrary
# values, so that fuzzing reaches every field rule rather than stopping at the first.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # orjson's range
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
VALID = {
    "sensing": {"sensor_id": "S-1", "ts": 1, "id_type": "mac", "device_id": "a45e60d1229f",
                "rssi": -60},
    "plates": {"camera_id": "C-1", "ts": 1, "plate": "AB123", "confidence": 0.5,
               "country": "CN"},
    "checkins": {"property_id": "P-1", "ts": 1, "doc_type": "national_id",
                 "doc_number": "371002199001011237"},
    "watchlist": {"op": "upsert", "entry_id": "W-1", "list": "l", "subject_type": "device",
                  "id_type": "mac", "doc_type": "passport", "key": "a45e60d1229f",
                  "match": "exact", "priority": 1, "legal_basis": "b", "requested_by": "r",
                  "expires_at": 1795000000001, "reason": "r"},
}  # fmt: skip
LIKELY = st.sampled_from(
    ["mac", "imsi", "etag", "national_id", "passport", "upsert", "delete", "device",
     "document", "plate", "ocr-tolerant", "a45e60d1229f", "371002199001011238", "W-1", "",
     " ", 1795000000000, 1795000000001, 99999999999999, 2, -1, 0.5, True]
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> dict[str, object]:
    record = dict(VALID[kind])
    for field in draw(st.sets(st.sampled_from(sorted(record)), max_size=3)):
        if draw(st.booleans()):
            del record[field]
        else:
            record[field] = draw(LIKELY | json_values)
    return record


def shaped(kind: str) -> st.SearchStrategy[object]:
    return st.one_of(mutated(kind), st.lists(mutated(kind), max_size=3), json_values)


DECODERS = {
    "sensing": lambda value: decode_sensing(value, None)[1],
    "plates": lambda value: decode_plate_reads(value)[1],
    "checkins": lambda value: decode_checkins(value)[1],
    "watchlist": lambda value: [
        r
        for r in [decode_watchlist_command(value, b"W-1", 1795000000000, 90)]
        if isinstance(r, Rejected)
    ],
}


@pytest.mark.parametrize("kind", sorted(DECODERS))
@settings(max_examples=150, deadline=None, database=None)
@given(data=st.data())
def test_decoders_never_raise_and_use_known_reasons(kind: str, data: st.DataObject) -> None:
    value = dumps(data.draw(shaped(kind)))
    for rejected in DECODERS[kind](value):
        assert rejected.reason in REASONS
        assert "\n" not in rejected.detail
        assert len(rejected.detail) < 200


@SETTINGS
@given(st.binary(max_size=80))
def test_binary_decoder_never_raises_on_any_bytes(value: bytes) -> None:
    for content_type in (SENSING_CONTENT_TYPE, None):
        batch, rejected = decode_sensing(value, content_type)
        assert all(r.reason in REASONS for r in rejected)
        assert len(batch) <= 2
