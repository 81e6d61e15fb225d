"""Plate reads from checkpoint cameras."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.normalize import normalize_plate
from schemas.records import (
    decode_records,
    invalid,
    optional_number,
    optional_str,
    required_id,
    required_str,
    required_ts,
)
from schemas.rejection import Rejected

# Generous next to the 16-char normalised limit, yet bounds what a read can drag along.
MAX_RAW_PLATE_CHARS = 64
MAX_COUNTRY_CHARS = 8


@dataclass(frozen=True, slots=True)
class PlateRead:
    """One plate read; `plate` is as read (a hit shows it), `plate_norm` is what matches."""

    camera_id: str
    ts: int
    plate: str
    plate_norm: str
    confidence: float | None
    country: str | None


def decode_plate_reads(value: bytes) -> tuple[list[PlateRead], list[Rejected]]:
    """Decode a plates message (one JSON read or an array) into reads and rejections."""
    return decode_records(value, _parse_read)


def _parse_read(obj: dict[str, Any]) -> PlateRead:
    camera_id = required_id(obj, "camera_id", "bad_camera_id")
    ts = required_ts(obj)
    plate = required_str(obj, "plate", "bad_plate", MAX_RAW_PLATE_CHARS)
    plate_norm = normalize_plate(plate)
    if plate_norm is None:
        raise invalid("plate", "bad_plate", plate, "1-16 characters once normalised")
    return PlateRead(
        camera_id=camera_id,
        ts=ts,
        plate=plate,
        plate_norm=plate_norm,
        confidence=optional_number(obj, "confidence", "bad_confidence", 0.0, 1.0),
        country=optional_str(obj, "country", "bad_country", MAX_COUNTRY_CHARS),
    )
