"""Sensing decoding: JSON records and binary batches, checked against a per-record reference."""

from __future__ import annotations

import string
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.json import dumps
from schemas.records import parse_json, records_of
from schemas.rejection import Rejected
from schemas.sensing import (
    MAGIC,
    RECORD_DTYPE,
    RSSI_MISSING,
    SENSING_CONTENT_TYPE,
    SensingBatch,
    _batch_from_rows,
    _parse_json_record,
    decode_sensing,
    device_id_matrix,
    encode_sensing_batch,
)

SETTINGS = settings(max_examples=200, deadline=None, database=None)
RECORD = struct.Struct("<qIBb2s16s")  # the contract's 32-byte record, spelt out by hand
NAMES = {1: "mac", 2: "imsi", 3: "imei", 4: "etag"}
DROP = object()


def ref_validate(record: bytes) -> tuple[str | None, bytes | None]:
    """Validate one packed record the obvious way: (reason or None, normalised device_id)."""
    ts, _sensor, code, _rssi, _reserved, device = RECORD.unpack(record)
    if not 0 <= ts <= 2**53:
        return "bad_ts", None
    if code not in NAMES:
        return "bad_id_type", None
    text, _, padding = device.partition(b"\0")
    if any(padding):
        return "bad_device_id", None
    chars = "".join(chr(b) for b in text)
    kind = NAMES[code]
    if kind == "mac" and len(chars) == 12 and all(c in string.hexdigits for c in chars):
        return None, chars.lower().encode()
    if kind in ("imsi", "imei") and len(chars) == 15 and all(c in string.digits for c in chars):
        return None, text
    alnum = string.ascii_letters + string.digits
    if kind == "etag" and 1 <= len(chars) <= 16 and all(c in alnum for c in chars):
        return None, chars.upper().encode()
    return "bad_device_id", None


def batch_bytes(records: list[bytes]) -> bytes:
    return MAGIC + struct.pack("<I", len(records)) + b"".join(records)


CHARSETS = {1: string.hexdigits, 2: string.digits, 3: string.digits, 4: string.ascii_letters}
LENGTHS = {1: (12, 12), 2: (15, 15), 3: (15, 15), 4: (1, 16)}


@st.composite
def device_ids(draw: st.DrawFn, code: int) -> bytes:
    """Mostly valid identifiers for code, some near misses, some garbage."""
    lo, hi = LENGTHS.get(code, (1, 16))
    charset = CHARSETS.get(code, string.digits) + ("0" if code == 4 else "")
    text = draw(
        st.one_of(
            st.text(alphabet=charset, min_size=lo, max_size=hi),
            st.text(alphabet=charset + ":g!\xe9", min_size=lo - 1, max_size=min(hi + 1, 16)),
        )
    ).encode("latin-1")[:16]
    device = text.ljust(16, b"\0")
    kind = draw(st.sampled_from(["clean", "clean", "garbage_after", "random"]))
    if kind == "garbage_after" and len(text) < 16:
        at = draw(st.integers(len(text), 15))
        # Garbage from the id_type's own charset too, which only the padding rule catches.
        byte = draw(st.one_of(st.sampled_from(charset.encode()), st.integers(1, 255)))
        device = device[:at] + bytes([byte]) + device[at + 1 :]
    elif kind == "random":
        device = draw(st.binary(min_size=16, max_size=16))
    return device


@st.composite
def packed_records(draw: st.DrawFn) -> bytes:
    ts = draw(st.one_of(st.integers(0, 2**53), st.integers(-(2**63), 2**63 - 1)))
    code = draw(st.one_of(st.integers(1, 4), st.integers(1, 4), st.integers(0, 255)))
    device = draw(device_ids(code))
    reserved = draw(st.binary(min_size=2, max_size=2))
    rssi = draw(st.integers(-128, 127))
    return RECORD.pack(ts, draw(st.integers(0, 2**32 - 1)), code, rssi, reserved, device)


def valid_records() -> st.SearchStrategy[dict[str, Any]]:
    def build(code: int) -> st.SearchStrategy[dict[str, Any]]:
        lo, hi = LENGTHS[code]
        alphabet = {1: "0123456789abcdef", 4: string.ascii_uppercase + string.digits}
        device = st.text(alphabet=alphabet.get(code, string.digits), min_size=lo, max_size=hi)
        return st.fixed_dictionaries(
            {
                "ts": st.integers(0, 2**53),
                "sensor_id": st.integers(0, 2**32 - 1),
                "id_type": st.just(NAMES[code]),
                "device_id": device,
                "rssi": st.integers(-128, 127),
            }
        )

    return st.integers(1, 4).flatmap(build)


def assert_only(rejected: list[Rejected], reason: str, index: int | None = None) -> None:
    assert [(r.reason, r.index) for r in rejected] == [(reason, index)]
    assert "\n" not in rejected[0].detail


def test_record_layout_is_the_contract_one() -> None:
    assert RECORD_DTYPE.itemsize == 32
    offsets = {name: RECORD_DTYPE.fields[name][1] for name in RECORD_DTYPE.names}
    assert offsets == {
        "ts": 0,
        "sensor_id": 8,
        "id_type": 12,
        "rssi": 13,
        "reserved": 14,
        "device_id": 16,
    }


@SETTINGS
@given(st.lists(valid_records(), max_size=20))
def test_binary_round_trip(records: list[dict[str, Any]]) -> None:
    batch, rejected = decode_sensing(encode_sensing_batch(records), SENSING_CONTENT_TYPE)
    assert rejected == []
    assert len(batch) == len(records)
    assert batch.ts.tolist() == [r["ts"] for r in records]
    assert batch.sensor_num.tolist() == [r["sensor_id"] for r in records]
    assert batch.rssi.tolist() == [r["rssi"] for r in records]
    assert [batch.id_type_name(i) for i in range(len(batch))] == [r["id_type"] for r in records]
    assert [batch.device_id_str(i) for i in range(len(batch))] == [r["device_id"] for r in records]
    assert [batch.location_id(i) for i in range(len(batch))] == [
        f"S-{r['sensor_id']:06d}" for r in records
    ]
    assert batch.sensor_name is None


@SETTINGS
@given(st.lists(packed_records(), max_size=30))
def test_vectorised_validation_matches_reference(records: list[bytes]) -> None:
    batch, rejected = decode_sensing(batch_bytes(records), None)
    expected = [ref_validate(r) for r in records]
    assert [(r.reason, r.index) for r in rejected] == [
        (reason, i) for i, (reason, _) in enumerate(expected) if reason is not None
    ]
    assert batch.device_id.tolist() == [dev for reason, dev in expected if reason is None]
    kept = [RECORD.unpack(r) for r, (reason, _) in zip(records, expected, strict=True)]
    kept = [fields for fields, (reason, _) in zip(kept, expected, strict=True) if reason is None]
    assert batch.ts.tolist() == [f[0] for f in kept]
    assert batch.sensor_num.tolist() == [f[1] for f in kept]
    assert batch.id_type.tolist() == [f[2] for f in kept]
    assert batch.rssi.tolist() == [f[3] for f in kept]


BASE = [
    {"ts": 1795000000000 + i, "sensor_id": 100 + i, "id_type": "mac", "device_id": "a45e60d1229f"}
    for i in range(5)
]


def corrupt(index: int, offset: int, data: bytes) -> bytes:
    value = bytearray(encode_sensing_batch(BASE))
    at = 12 + 32 * index + offset
    value[at : at + len(data)] = data
    return bytes(value)


@pytest.mark.parametrize(
    ("offset", "data", "reason"),
    [
        (12, b"\x00", "bad_id_type"),
        (12, b"\x05", "bad_id_type"),
        (12, b"\xff", "bad_id_type"),
        (16, b"g", "bad_device_id"),
        (16, b":", "bad_device_id"),
        (16, b"\xe9", "bad_device_id"),
        (27, b"\x00", "bad_device_id"),  # 11 hex digits
        (28, b"0", "bad_device_id"),  # 13 hex digits
        (31, b"x", "bad_device_id"),  # garbage after the zero padding
        (31, b"a", "bad_device_id"),  # garbage that is a hex digit
        (29, b"\x001", "bad_device_id"),  # a digit inside the padding
        (0, struct.pack("<q", -1), "bad_ts"),
        (0, struct.pack("<q", 2**53 + 1), "bad_ts"),
    ],
)
def test_corrupted_record_is_rejected_alone(offset: int, data: bytes, reason: str) -> None:
    batch, rejected = decode_sensing(corrupt(2, offset, data), SENSING_CONTENT_TYPE)
    assert_only(rejected, reason, 2)
    assert batch.ts.tolist() == [BASE[i]["ts"] for i in (0, 1, 3, 4)]


def test_every_bad_record_gets_its_own_rejection() -> None:
    value = corrupt(1, 12, b"\x09")
    value = value[: 12 + 32 * 3 + 12] + b"\x00" + value[12 + 32 * 3 + 13 :]
    batch, rejected = decode_sensing(value, None)
    assert [(r.reason, r.index) for r in rejected] == [("bad_id_type", 1), ("bad_id_type", 3)]
    assert len(batch) == 3


def test_binary_case_is_folded_and_reserved_bytes_ignored() -> None:
    records = [
        {"ts": 1, "sensor_id": 123, "id_type": "mac", "device_id": "A45E60D1229F", "rssi": -67},
        {"ts": 2, "sensor_id": 7, "id_type": "etag", "device_id": "ab12Cd"},
    ]
    value = bytearray(encode_sensing_batch(records))
    value[12 + 14 : 12 + 16] = b"\xff\xff"
    batch, rejected = decode_sensing(bytes(value), SENSING_CONTENT_TYPE)
    assert rejected == []
    assert [batch.device_id_str(i) for i in range(2)] == ["a45e60d1229f", "AB12CD"]
    assert batch.rssi.tolist() == [-67, 0]
    assert batch.location_id(0) == "S-000123"


def test_binary_decodes_the_same_from_a_writable_buffer() -> None:
    records = [*BASE, {"ts": 3, "sensor_id": 9, "id_type": "imsi", "device_id": "46000123"}]
    value = encode_sensing_batch(records)
    from_bytes, rejected = decode_sensing(value, None)
    from_buffer, rejected_too = decode_sensing(bytearray(value), None)
    assert [r.reason for r in rejected] == [r.reason for r in rejected_too] == ["bad_device_id"]
    assert from_buffer.device_id.tolist() == from_bytes.device_id.tolist()
    assert from_buffer.ts.tolist() == from_bytes.ts.tolist()


@pytest.mark.parametrize("extra", [-33, -1, 1, 32])
def test_wrong_length_rejects_the_whole_batch(extra: int) -> None:
    value = encode_sensing_batch(BASE)
    value = value[:extra] if extra < 0 else value + b"\0" * extra
    batch, rejected = decode_sensing(value, SENSING_CONTENT_TYPE)
    assert_only(rejected, "bad_batch_length")
    assert len(batch) == 0


@pytest.mark.parametrize("value", [MAGIC, MAGIC + b"\0\0", MAGIC + struct.pack("<I", 2**32 - 1)])
def test_short_or_overcounted_batch_is_bad_length(value: bytes) -> None:
    assert_only(decode_sensing(value, None)[1], "bad_batch_length")


@pytest.mark.parametrize("value", [b"VGLSNS02" + b"\0" * 4, b"{}", b"", b"VGL"])
def test_wrong_magic_with_the_header_is_bad_magic(value: bytes) -> None:
    batch, rejected = decode_sensing(value, SENSING_CONTENT_TYPE)
    assert_only(rejected, "bad_magic")
    assert len(batch) == 0


def test_binary_is_recognised_by_magic_or_by_header() -> None:
    value = encode_sensing_batch(BASE)
    for content_type in (None, "application/json", "Application/X-Vigil-Sensing-V1; v=1"):
        batch, rejected = decode_sensing(value, content_type)
        assert (len(batch), rejected) == (5, [])


def test_empty_batch() -> None:
    batch, rejected = decode_sensing(encode_sensing_batch([]), SENSING_CONTENT_TYPE)
    assert (len(batch), rejected) == (0, [])


def test_device_id_matrix_is_a_view_of_the_records() -> None:
    records = np.frombuffer(encode_sensing_batch(BASE)[12:], dtype=RECORD_DTYPE)
    matrix = device_id_matrix(records)
    assert matrix.shape == (5, 16)
    assert bytes(matrix[0]) == b"a45e60d1229f\0\0\0\0"
    assert np.shares_memory(matrix, records)


def test_encode_refuses_device_ids_longer_than_the_field() -> None:
    record = {"ts": 1, "sensor_id": 1, "id_type": "etag", "device_id": "A" * 17}
    with pytest.raises(ValueError, match="JSON"):
        encode_sensing_batch([record])


def sighting(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "sensor_id": "S-000123",
        "ts": 1795000000123,
        "id_type": "mac",
        "device_id": "a4:5e:60:d1:22:9f",
        "rssi": -67,
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not DROP}


def test_contract_example_decodes() -> None:
    batch, rejected = decode_sensing(dumps(sighting()), None)
    assert rejected == []
    assert len(batch) == 1
    assert batch.ts.tolist() == [1795000000123]
    assert (batch.id_type_name(0), batch.device_id_str(0)) == ("mac", "a45e60d1229f")
    assert (batch.location_id(0), int(batch.rssi[0]), int(batch.sensor_num[0])) == (
        "S-000123",
        -67,
        0,
    )


@pytest.mark.parametrize(
    ("changes", "device_id"),
    [
        ({"id_type": "imsi", "device_id": "460001234567890"}, "460001234567890"),
        ({"id_type": "imei", "device_id": "351234567890123"}, "351234567890123"),
        ({"id_type": "etag", "device_id": "ab" * 16}, "AB" * 16),
        ({"ts": "2026-11-18T09:46:40.123+00:00"}, "a45e60d1229f"),
        ({"extra": {"ignored": True}}, "a45e60d1229f"),
    ],
)
def test_valid_json_variants(changes: dict[str, object], device_id: str) -> None:
    batch, rejected = decode_sensing(dumps(sighting(**changes)), None)
    assert rejected == []
    assert batch.device_id_str(0) == device_id


@pytest.mark.parametrize("rssi", [DROP, None])
def test_missing_rssi_is_the_sentinel(rssi: object) -> None:
    batch, _ = decode_sensing(dumps(sighting(rssi=rssi)), None)
    assert batch.rssi.tolist() == [RSSI_MISSING]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{", "bad_json"),
        (b"", "bad_json"),
        (b"\xff", "bad_json"),
        (b"42", "not_a_record"),
        (b'"S-1"', "not_a_record"),
        (b"null", "not_a_record"),
        (dumps(sighting(sensor_id=DROP)), "missing_field"),
        (dumps(sighting(ts=DROP)), "missing_field"),
        (dumps(sighting(ts=None)), "missing_field"),
        (dumps(sighting(id_type=DROP)), "missing_field"),
        (dumps(sighting(device_id=DROP)), "missing_field"),
        (dumps(sighting(sensor_id="")), "bad_sensor_id"),
        (dumps(sighting(sensor_id="S" * 65)), "bad_sensor_id"),
        (dumps(sighting(sensor_id=123)), "bad_sensor_id"),
        (dumps(sighting(sensor_id="S-1\x07")), "bad_sensor_id"),
        (dumps(sighting(sensor_id="S-1/2")), "bad_sensor_id"),
        (dumps(sighting(ts=1795000000123.5)), "bad_ts"),
        (dumps(sighting(ts=-1)), "bad_ts"),
        (dumps(sighting(ts=True)), "bad_ts"),
        (dumps(sighting(ts="2026-11-18T09:46:40")), "bad_ts"),
        (dumps(sighting(id_type="MAC")), "bad_id_type"),
        (dumps(sighting(id_type="usb")), "bad_id_type"),
        (dumps(sighting(id_type=1)), "bad_id_type"),
        (dumps(sighting(id_type=["mac"])), "bad_id_type"),
        (dumps(sighting(device_id="a4:5e:60:d1:22")), "bad_device_id"),
        (dumps(sighting(device_id=123)), "bad_device_id"),
        (dumps(sighting(id_type="imsi", device_id="٤60001234567890")), "bad_device_id"),
        (dumps(sighting(id_type="etag", device_id="A" * 33)), "bad_device_id"),
        (dumps(sighting(rssi=200)), "bad_rssi"),
        (dumps(sighting(rssi=-129)), "bad_rssi"),
        (dumps(sighting(rssi=True)), "bad_rssi"),
        (dumps(sighting(rssi=-67.0)), "bad_rssi"),
        (dumps(sighting(rssi="-67")), "bad_rssi"),
    ],
)
def test_each_json_rule_has_its_reason(value: bytes, reason: str) -> None:
    batch, rejected = decode_sensing(value, None)
    assert_only(rejected, reason)
    assert len(batch) == 0


def test_bad_element_of_an_array_is_rejected_alone() -> None:
    records = [sighting(ts=1), sighting(rssi=500), 7, sighting(ts=4)]
    batch, rejected = decode_sensing(dumps(records), None)
    assert [(r.reason, r.index) for r in rejected] == [("bad_rssi", 1), ("not_a_record", 2)]
    assert batch.ts.tolist() == [1, 4]
    assert [batch.location_id(i) for i in range(2)] == ["S-000123", "S-000123"]


def test_empty_array_and_empty_batch_shape() -> None:
    batch, rejected = decode_sensing(b"[]", None)
    assert (len(batch), rejected) == (0, [])
    assert batch.device_id.dtype == np.dtype("S32")
    assert len(SensingBatch.empty()) == 0


def test_columns_must_have_one_length() -> None:
    empty = SensingBatch.empty()
    with pytest.raises(ValueError, match="length"):
        SensingBatch(
            ts=np.zeros(1, np.int64),
            id_type=empty.id_type,
            device_id=empty.device_id,
            rssi=empty.rssi,
            sensor_num=empty.sensor_num,
        )


def _separated_macs() -> st.SearchStrategy[str]:
    """12 hex digits of either case with runs of any MAC separators between and around."""
    def interleave(digits: str, runs: list[str]) -> str:
        return "".join(run + d for run, d in zip(runs, digits, strict=False)) + runs[-1]

    return st.builds(interleave, st.text(alphabet=string.hexdigits, min_size=12, max_size=12),
                     st.lists(st.text(alphabet=":-.", max_size=3), min_size=13, max_size=13))


_DEVICES = {
    # The last one is longer than the column-wise path takes (it goes per record).
    "mac": st.one_of(st.sampled_from(["aa:bb:cc:dd:ee:0f", "AA-BB-CC-DD-EE-0F",
                                      "aabb.ccdd.ee0f", "0123456789AB",
                                      "a" + ":" * 70 + "abbccddeeff"]),
                     _separated_macs()),
    "imsi": st.text(alphabet=string.digits, min_size=15, max_size=15),
    "imei": st.text(alphabet=string.digits, min_size=15, max_size=15),
    "etag": st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=32),
}
_INVALID = {  # DROP: the field is absent (rssi may be)
    "sensor_id": ["", "x" * 65, 7, None, DROP, "S-1\x00", "S\n1", "../../etc/passwd",
                  "\x1b]0;title\x07", " S-1", "S-1 ", "S-\u202e1", "S-\u200b1", "S%2F1",
                  ["S-1"]],
    "ts": [-1, 2**53 + 1, True, 1.5, None, DROP, "2026-11-23T10:00:00Z", "2026-11-23T10:00"],
    "id_type": ["MAC", 3, None, DROP, "ETAG"],
    "device_id": ["", "zz:bb:cc:dd:ee:ff", "12345678901234", 5, None, DROP, "ab\u00e9cd",
                  "1234567890123456789012345678901234", "aabbccddeeff\x00", "aabbcc\x00ddeeff",
                  "aabbccddeef", "aabbccddeeff0", "12345:678901234", "ab:cd", ["aabbccddeeff"],
                  "aa:bb:cc:dd:ee:ff:" + "0" * 60],
    "rssi": [128, -129, True, 1.0, "3"],
}


# Sensor ids by the identifier rule (schemas/identifiers.py), some of them repeated.
sensor_ids = st.one_of(
    st.text(alphabet=st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"), blacklist_characters="/%"),
        min_size=1, max_size=64).filter(lambda s: s == s.strip()),
    st.sampled_from(["S-000001", "S-000002", "传感器 7", "x" * 64]))


def json_sightings(flawed: bool) -> st.SearchStrategy[Any]:
    """A valid sighting as a JSON value, or (flawed) one with exactly one field bad or
    absent, or a value that is not an object."""
    def build(id_type: str, bad_field: str) -> st.SearchStrategy[Any]:
        fields = {"sensor_id": sensor_ids, "ts": st.integers(0, 2**53),
                  "id_type": st.just(id_type), "device_id": _DEVICES[id_type],
                  "rssi": st.one_of(st.integers(-128, 127), st.just(DROP))}
        if flawed:
            fields[bad_field] = st.sampled_from(_INVALID[bad_field])
        return st.fixed_dictionaries(fields).map(
            lambda r: {k: v for k, v in r.items() if v is not DROP})

    record = st.tuples(st.sampled_from(sorted(_DEVICES)), st.sampled_from(sorted(_INVALID))
                       ).flatmap(lambda t: build(*t))
    return st.one_of(record, st.sampled_from([5, "x", [1], None])) if flawed else record


def same_batch(a: SensingBatch, b: SensingBatch) -> bool:
    def names(batch: SensingBatch) -> list[Any]:
        return [] if batch.sensor_name is None else list(batch.sensor_name)

    return names(a) == names(b) and all(
        np.array_equal(getattr(a, f), getattr(b, f))
        for f in ("ts", "id_type", "device_id", "rssi", "sensor_num"))


@settings(max_examples=1000, deadline=None, database=None)
@given(st.one_of(st.lists(json_sightings(flawed=False), max_size=30),
                 st.lists(st.one_of(json_sightings(flawed=False), json_sightings(flawed=True)),
                          max_size=30),
                 st.tuples(st.lists(json_sightings(flawed=False), max_size=30),
                           json_sightings(flawed=True), st.integers(0, 30)).map(
                     lambda t: [*t[0][:t[2]], t[1], *t[0][t[2]:]])))
def test_json_arrays_decode_as_the_per_record_path_does(items: list[Any]) -> None:
    # The column-wise path takes a message only when every record is valid; the per-record
    # path is the reference for what is valid and how the rest is rejected.
    _assert_both_paths_agree(items)


def _assert_both_paths_agree(items: list[Any]) -> None:
    value = dumps(items)
    batch, rejected = decode_sensing(value, None)
    rows, ref_rejected = records_of(parse_json(value), _parse_json_record)
    assert same_batch(batch, _batch_from_rows(rows))
    assert [(r.reason, r.index, r.detail) for r in rejected] == [
        (r.reason, r.index, r.detail) for r in ref_rejected]


@pytest.mark.parametrize("id_type", sorted(_DEVICES))
@pytest.mark.parametrize("device_id", [d for d in _INVALID["device_id"] if d is not DROP]
                         + ["aa:bb:cc:dd:ee:0f", "123456789012345", "ab", "x" * 32])
def test_every_id_type_judges_each_identifier_as_the_per_record_path_does(
        id_type: str, device_id: Any) -> None:
    # Each identifier under each id_type, beside a valid record: the random examples above
    # rarely pair a given identifier with a given type.
    _assert_both_paths_agree([{"sensor_id": "S-1", "ts": 1, "id_type": "imsi",
                               "device_id": "123456789012345"},
                              {"sensor_id": "S-2", "ts": 2, "id_type": id_type,
                               "device_id": device_id}])
