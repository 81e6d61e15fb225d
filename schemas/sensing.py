"""Sensing records (device sightings): one JSON record, a JSON array, or a binary batch.

Both forms decode to a SensingBatch of numpy columns, so matching never looks at the
input format. The binary path is validated and normalised by one compiled loop
(schemas/sensing_kernel.py) because it carries millions of records a second; only
records that fail pay for Python code.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from schemas.identifiers import KnownValid
from schemas.normalize import (
    ID_TYPE_CODES,
    ID_TYPE_NAMES,
    ID_TYPES,
    IMSI_IMEI_DIGITS,
    MAC_DIGITS,
    MAC_SEPARATORS,
    MAX_ETAG_CHARS,
    normalize_device_id,
)
from schemas.records import (
    invalid,
    optional_int,
    parse_json,
    records_of,
    required,
    required_choice,
    required_id,
    required_ts,
)
from schemas.rejection import Rejected, short_repr
from schemas.sensing_kernel import BAD_ID_TYPE, BAD_TS, OK, checked_records, normalized_ids
from schemas.timestamps import MAX_TS_MS

SENSING_CONTENT_TYPE = "application/x-vigil-sensing-v1"
MAGIC = b"VGLSNS01"
_HEADER = struct.Struct("<8sI")
HEADER_BYTES = _HEADER.size

RECORD_DTYPE = np.dtype(
    [
        ("ts", "<i8"),
        ("sensor_id", "<u4"),
        ("id_type", "u1"),
        ("rssi", "i1"),
        ("reserved", "V2"),
        ("device_id", "S16"),
    ]
)
RECORD_BYTES = RECORD_DTYPE.itemsize
DEVICE_ID_BYTES = 16
_DEVICE_ID_OFFSET = RECORD_DTYPE.fields["device_id"][1]

# JSON e-tags may be 32 characters; binary ones at most 16 (longer ones go as JSON).
DEVICE_ID_DTYPE = np.dtype("S32")
RSSI_MISSING = -32768
"""rssi of a JSON record that had none: outside int8, so it can never be a reading."""

# Labels of the binary reason codes (schemas/sensing_kernel.py).
_BINARY_REASONS = ("", "bad_ts", "bad_id_type", "bad_device_id")


def _byte_tables() -> tuple[np.ndarray, np.ndarray]:
    """Build the per-byte tables: which id_type codes allow the byte, and its case bit.

    Bit c of the first table is set when id_type code c (1-4) allows the byte. Byte 0 is
    allowed everywhere: it is padding, judged by the length and padding rules instead.
    """
    digits, upper, lower = b"0123456789", bytes(range(65, 91)), bytes(range(97, 123))
    allowed_by = {
        ID_TYPE_CODES["mac"]: digits + b"abcdefABCDEF",
        ID_TYPE_CODES["imsi"]: digits,
        ID_TYPE_CODES["imei"]: digits,
        ID_TYPE_CODES["etag"]: digits + upper + lower,
    }
    char_bits = np.zeros(256, dtype=np.uint8)
    for code, chars in allowed_by.items():
        char_bits[list(chars + b"\0")] |= 1 << code
    case_bit = np.zeros(256, dtype=np.uint8)
    case_bit[list(upper + lower)] = 0x20  # ASCII upper and lower case differ in this bit
    return char_bits, case_bit


_CHAR_BITS, _CASE_BIT = _byte_tables()
_ETAG = ID_TYPE_CODES["etag"]
# Identifier length bounds by id_type code; row 0 stands for every invalid code.
_MIN_LEN = np.array([DEVICE_ID_BYTES + 1, MAC_DIGITS, IMSI_IMEI_DIGITS, IMSI_IMEI_DIGITS, 1])
_MAX_LEN = np.array([0, MAC_DIGITS, IMSI_IMEI_DIGITS, IMSI_IMEI_DIGITS, DEVICE_ID_BYTES])
# JSON identifiers: MACs may carry separators, e-tags be up to 32 characters.
_JSON_MAX_LEN = np.array([0, MAC_DIGITS, IMSI_IMEI_DIGITS, IMSI_IMEI_DIGITS, MAX_ETAG_CHARS])
_SKIP_BITS = np.zeros(256, dtype=np.uint8)
_SKIP_BITS[list(MAC_SEPARATORS.encode())] = 1 << ID_TYPE_CODES["mac"]
# Longer raw JSON identifiers (valid only as MACs with many separators) take the per-record
# path, so a hostile message cannot make the column-wise one allocate n × its longest string.
_MAX_RAW_ID_CHARS = 64
# Sensor ids of JSON sightings already found valid (the identifier rule, schemas/identifiers).
_SENSOR_IDS = KnownValid()


@dataclass(frozen=True, eq=False)
class SensingBatch:
    """Decoded sightings as equal-length columns.

    ts: int64 epoch ms; id_type: uint8 code (1-4, see ID_TYPE_CODES); device_id: S32
    normalised ASCII identifier; rssi: int16, RSSI_MISSING when the record had none;
    sensor_num: uint32 binary sensor number (0 for JSON); sensor_name: object array of
    str for JSON records, None for a binary batch.
    """

    ts: np.ndarray
    id_type: np.ndarray
    device_id: np.ndarray
    rssi: np.ndarray
    sensor_num: np.ndarray
    sensor_name: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Refuse columns of different lengths: every index must name one sighting."""
        lengths = {len(self.ts), len(self.id_type), len(self.device_id), len(self.rssi)}
        lengths.add(len(self.sensor_num))
        if self.sensor_name is not None:
            lengths.add(len(self.sensor_name))
        if len(lengths) != 1:
            raise ValueError(f"SensingBatch columns differ in length: {sorted(lengths)}")

    def __len__(self) -> int:
        """Return the number of sightings."""
        return len(self.ts)

    @classmethod
    def empty(cls) -> SensingBatch:
        """Return a batch of no sightings."""
        return cls(
            ts=np.empty(0, np.int64),
            id_type=np.empty(0, np.uint8),
            device_id=np.empty(0, DEVICE_ID_DTYPE),
            rssi=np.empty(0, np.int16),
            sensor_num=np.empty(0, np.uint32),
        )

    def location_id(self, i: int) -> str:
        """Return sighting i's sensor as the contract's location_id string."""
        if self.sensor_name is not None:
            return str(self.sensor_name[i])
        return f"S-{int(self.sensor_num[i]):06d}"

    def device_id_str(self, i: int) -> str:
        """Return sighting i's normalised device identifier."""
        return bytes(self.device_id[i]).decode("ascii")

    def id_type_name(self, i: int) -> str:
        """Return sighting i's id_type name ("mac", "imsi", ...)."""
        return ID_TYPE_NAMES[int(self.id_type[i])]


def decode_sensing(value: bytes, content_type: str | None) -> tuple[SensingBatch, list[Rejected]]:
    """Decode a sensing message into its valid sightings and one Rejected per bad one.

    The binary form is chosen by the content-type header, and also by the magic alone:
    a producer that forgot the header still gets decoded, and no JSON text can start
    with `VGLSNS01`.
    """
    if _is_binary_type(content_type) or (value is not None and value[:8] == MAGIC):
        return _decode_binary(value or b"")
    doc = parse_json(value)
    if isinstance(doc, list) and (batch := _batch_if_all_valid(doc)) is not None:
        return batch, []
    rows, rejected = records_of(doc, _parse_json_record)
    return _batch_from_rows(rows), rejected


def _is_binary_type(content_type: str | None) -> bool:
    # MIME types are case-insensitive and may carry parameters.
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == SENSING_CONTENT_TYPE


def _decode_binary(value: bytes) -> tuple[SensingBatch, list[Rejected]]:
    if value[:8] != MAGIC:
        detail = f"expected magic {MAGIC!r}, got {short_repr(bytes(value[:8]))}"
        return SensingBatch.empty(), [Rejected("bad_magic", detail)]
    if len(value) < HEADER_BYTES:
        detail = f"{len(value)} bytes is shorter than the {HEADER_BYTES}-byte header"
        return SensingBatch.empty(), [Rejected("bad_batch_length", detail)]
    _, count = _HEADER.unpack_from(value)
    expected = HEADER_BYTES + RECORD_BYTES * count
    if len(value) != expected:
        detail = f"count {count} needs {expected} bytes, got {len(value)}"
        return SensingBatch.empty(), [Rejected("bad_batch_length", detail)]
    if count == 0:
        return SensingBatch.empty(), []
    records = np.frombuffer(value, dtype=RECORD_DTYPE, count=count, offset=HEADER_BYTES)
    reasons, device_ids = checked_records(
        records["ts"], records["id_type"], device_id_matrix(records), _CHAR_BITS, _CASE_BIT,
        _MIN_LEN, _MAX_LEN, _ETAG, MAX_TS_MS, DEVICE_ID_DTYPE.itemsize)
    keep = reasons == OK
    bad = np.flatnonzero(~keep)
    rejected = [_binary_rejection(records[i], int(reasons[i]), int(i)) for i in bad]
    if len(bad):  # skip the copies in the usual case
        records, device_ids = records[keep], device_ids[keep]
    batch = SensingBatch(
        ts=records["ts"].astype(np.int64),
        id_type=records["id_type"].astype(np.uint8),
        device_id=device_ids.view(DEVICE_ID_DTYPE).ravel(),
        rssi=records["rssi"].astype(np.int16),
        sensor_num=records["sensor_id"].astype(np.uint32),
    )
    return batch, rejected


def device_id_matrix(records: np.ndarray) -> np.ndarray:
    """View the device_id field of contiguous packed records as an (n, 16) uint8 matrix."""
    rows = np.ascontiguousarray(records).view(np.uint8).reshape(len(records), RECORD_BYTES)
    return rows[:, _DEVICE_ID_OFFSET : _DEVICE_ID_OFFSET + DEVICE_ID_BYTES]


def _binary_rejection(record: np.void, code: int, index: int) -> Rejected:
    if code == BAD_TS:
        detail = f"ts: expected epoch ms in [0, 2**53], got {int(record['ts'])}"
    elif code == BAD_ID_TYPE:
        detail = f"id_type: expected a code in 1..4, got {int(record['id_type'])}"
    else:
        name = ID_TYPE_NAMES[int(record["id_type"])]
        raw = record.tobytes()[_DEVICE_ID_OFFSET:]
        detail = f"device_id: not a valid {name}: {short_repr(raw)}"
    return Rejected(_BINARY_REASONS[code], detail, index)


def _parse_json_record(obj: dict[str, Any]) -> tuple[int, int, str, int, str]:
    sensor_name = required_id(obj, "sensor_id", "bad_sensor_id")
    ts = required_ts(obj)
    id_type = required_choice(obj, "id_type", "bad_id_type", ID_TYPES)
    raw = required(obj, "device_id")
    device_id = normalize_device_id(id_type, raw)
    if device_id is None:
        raise invalid("device_id", "bad_device_id", raw, f"a {id_type} identifier")
    rssi = optional_int(obj, "rssi", "bad_rssi", -128, 127)
    rssi_value = RSSI_MISSING if rssi is None else rssi
    return ts, ID_TYPE_CODES[id_type], device_id, rssi_value, sensor_name


def _batch_if_all_valid(items: list[Any]) -> SensingBatch | None:
    """Decode a JSON array of sightings column by column when every record is valid, the
    common case; identifiers are checked and normalised in one compiled pass
    (`schemas.sensing_kernel.normalize_ids`), sensor ids against a memo of those already
    found valid (they are few, and seen batch after batch). None when any record is not
    valid; the per-record path then finds and explains the bad ones, so the two must accept
    exactly the same records (a property test holds them to it)."""
    try:
        names = [o["sensor_id"] for o in items]
        ts = [o["ts"] for o in items]
        raws = [o["device_id"] for o in items]
        rssi = [o.get("rssi") for o in items]
        codes = [ID_TYPE_CODES.get(o["id_type"]) for o in items]
    except (KeyError, TypeError, AttributeError):  # not a dict, a field missing, unhashable
        return None
    if (not items or None in codes
            or not _SENSOR_IDS.all_valid(names)
            or not all(type(t) is int and 0 <= t <= MAX_TS_MS for t in ts)
            or not all(r is None or (type(r) is int and -128 <= r <= 127) for r in rssi)
            or not all(type(r) is str for r in raws)):
        return None
    lengths = np.fromiter(map(len, raws), np.int64, len(raws))
    longest = int(lengths.max())
    if longest > _MAX_RAW_ID_CHARS:
        return None
    try:  # one byte a character: lengths count both
        raw = np.array(raws, dtype=f"S{max(1, longest)}")
    except UnicodeEncodeError:
        return None
    code_column = np.array(codes, dtype=np.uint8)
    valid, device_ids = normalized_ids(
        code_column, raw.view(np.uint8).reshape(len(raws), raw.itemsize), lengths, _CHAR_BITS,
        _SKIP_BITS, _CASE_BIT, _MIN_LEN, _JSON_MAX_LEN, _ETAG, DEVICE_ID_DTYPE.itemsize)
    if not valid.all():
        return None
    return _batch_from_columns(ts, code_column, device_ids.view(DEVICE_ID_DTYPE).ravel(),
                               [RSSI_MISSING if r is None else r for r in rssi], names)


def _batch_from_rows(rows: list[tuple[int, int, str, int, str]]) -> SensingBatch:
    if not rows:
        return SensingBatch.empty()
    ts, codes, device_ids, rssi, names = zip(*rows, strict=True)
    return _batch_from_columns(
        ts, np.array(codes, dtype=np.uint8),
        np.array([d.encode("ascii") for d in device_ids], dtype=DEVICE_ID_DTYPE), rssi, names)


def _batch_from_columns(ts: Sequence[int], codes: np.ndarray, device_ids: np.ndarray,
                        rssi: Sequence[int], names: Sequence[str]) -> SensingBatch:
    sensor_name = np.empty(len(ts), dtype=object)
    sensor_name[:] = names
    return SensingBatch(
        ts=np.array(ts, dtype=np.int64),
        id_type=codes,
        device_id=device_ids,
        rssi=np.array(rssi, dtype=np.int16),
        sensor_num=np.zeros(len(ts), dtype=np.uint32),
        sensor_name=sensor_name,
    )


def encode_sensing_batch(records: Sequence[Mapping[str, Any]]) -> bytes:
    """Pack records into a binary sensing batch (header, then 32-byte records).

    Each record has ts (epoch ms), sensor_id (int), id_type (name, or its code),
    device_id (normalised ASCII, at most 16 bytes) and optionally rssi (default 0).
    Values are packed as given, not validated, so tests can build bad batches too.
    """
    packed = np.zeros(len(records), dtype=RECORD_DTYPE)
    device_ids = [r["device_id"].encode("ascii") for r in records]
    if any(len(d) > DEVICE_ID_BYTES for d in device_ids):
        raise ValueError(f"device_id longer than {DEVICE_ID_BYTES} bytes: send it as JSON")
    packed["ts"] = [r["ts"] for r in records]
    packed["sensor_id"] = [r["sensor_id"] for r in records]
    packed["id_type"] = [
        ID_TYPE_CODES[r["id_type"]] if isinstance(r["id_type"], str) else r["id_type"]
        for r in records
    ]
    packed["rssi"] = [r.get("rssi", 0) for r in records]
    packed["device_id"] = device_ids
    return _HEADER.pack(MAGIC, len(records)) + packed.tobytes()
