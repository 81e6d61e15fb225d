"""Location commands (contract v1.1, "Location command"): upsert a location, or delete one.

Choices where the contract is silent:
- `areas` holds at most MAX_AREAS names, the bound the contract sets on an entry scope's
  areas: a location in more areas than one scope may name is an input mistake, and a
  small bound keeps each location's membership row short (tables/locations.py). A name
  given twice counts once (kept in first-seen order).
- `lat` and `lon` come together or not at all (one alone places nothing on a map); JSON
  numbers only, WGS 84 ranges, ends included.
- `name` is 1-MAX_NAME_CHARS characters of text for consoles: no control, format (bidi
  overrides), surrogate, private-use or line-separator character, not blank.
- Unknown fields are ignored, as in watchlist commands: the contract lets a producer add
  optional fields, and a worker that refused them would drop a newer producer's locations.
- `key` is the message key and must equal location_id (log compaction keeps the last
  command per key); None (a file line not yet sent) is not checked.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from schemas.identifiers import name_problem
from schemas.json import dumps
from schemas.records import (
    Invalid,
    invalid,
    keyed_command,
    optional_number,
    parse_object,
    required,
    required_choice,
)
from schemas.rejection import Rejected, short_repr

OPS = ("upsert", "delete")
KINDS = ("sensor", "camera", "property")
MAX_AREAS = 64
MAX_NAME_CHARS = 200
# What a console must not be handed as a name: control, format (U+202E and the like),
# surrogates, private use, line and paragraph separators.
_NOT_TEXT = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


@dataclass(frozen=True, slots=True)
class LocationUpsert:
    """A location to add or replace: its kind, the areas it belongs to (no repeats), and
    where it is and what it is called, both optional (lat and lon together or neither)."""

    location_id: str
    kind: str
    areas: tuple[str, ...]
    lat: float | None = None
    lon: float | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class LocationDelete:
    """A request to forget a location (it then belongs to no area)."""

    location_id: str


LocationCommand = LocationUpsert | LocationDelete


def decode_location_command(value: bytes | None,
                            key: bytes | None) -> LocationUpsert | LocationDelete | Rejected:
    """Decode one location command; a command that breaks a rule is a Rejected (whole).

    `key` is the message key; it must equal location_id (None: not checked).
    """
    doc = parse_object(value)
    if isinstance(doc, Rejected):
        return doc
    try:
        op, location_id = keyed_command(doc, key, "location_id", "bad_location_id", OPS)
        if op == "delete":
            return LocationDelete(location_id)
        return _parse_upsert(doc, location_id)
    except Invalid as exc:
        return exc.rejected()


def _parse_upsert(doc: dict[str, Any], location_id: str) -> LocationUpsert:
    kind = required_choice(doc, "kind", "bad_kind", KINDS)
    lat = optional_number(doc, "lat", "bad_lat", -90.0, 90.0)
    lon = optional_number(doc, "lon", "bad_lon", -180.0, 180.0)
    if (lat is None) != (lon is None):
        missing, given = ("lon", "lat") if lon is None else ("lat", "lon")
        raise Invalid(f"bad_{missing}", f"{missing}: required with {given}")
    return LocationUpsert(location_id, kind, _areas(required(doc, "areas")), lat, lon,
                          _name(doc.get("name")))


def _areas(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise invalid("areas", "bad_areas", value, "an array of area names")
    for i, area in enumerate(value):
        problem = name_problem(area)
        if problem is not None:
            raise Invalid("bad_area", f"areas[{i}]: {problem}, got {short_repr(area)}")
    areas = tuple(dict.fromkeys(value))
    if len(areas) > MAX_AREAS:
        raise Invalid("bad_areas", f"areas: {len(areas)} names, more than {MAX_AREAS}")
    return areas


def _name(value: object) -> str | None:
    if value is None:
        return None
    if (not isinstance(value, str) or not 0 < len(value) <= MAX_NAME_CHARS
            or not value.strip()
            or any(unicodedata.category(ch) in _NOT_TEXT for ch in value)):
        raise invalid("name", "bad_name", value,
                      f"1-{MAX_NAME_CHARS} characters of printable text")
    return value


def encode_location_command(cmd: LocationUpsert | LocationDelete) -> bytes:
    """Serialise a command as the contract's JSON; decoding it gives cmd back."""
    if isinstance(cmd, LocationDelete):
        return dumps({"op": "delete", "location_id": cmd.location_id})
    payload: dict[str, object] = {"op": "upsert", "location_id": cmd.location_id,
                                  "kind": cmd.kind, "areas": list(cmd.areas)}
    if cmd.lat is not None:
        payload.update(lat=cmd.lat, lon=cmd.lon)
    if cmd.name is not None:
        payload["name"] = cmd.name
    return dumps(payload)

