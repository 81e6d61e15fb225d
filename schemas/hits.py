"""Hits: what Vigil writes when a record matches a watchlist entry."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from schemas.json import dumps, loads

HIT_FIELDS = (
    "hit_id",
    "entry_id",
    "list",
    "priority",
    "source",
    "location_id",
    "observed_ts",
    "detected_ts",
    "match",
    "observed",
)


@dataclass(frozen=True, slots=True)
class Hit:
    """One match of a record against an entry, with the contract's field names.

    `observed` holds only what is needed to act: sensing {id_type, device_id}, plate
    {plate} as read, check-in {doc_type, doc_number}.
    """

    hit_id: str
    entry_id: str
    list: str
    priority: int
    source: str
    location_id: str
    observed_ts: int
    detected_ts: int
    match: str
    observed: dict[str, str]


def make_hit_id(entry_id: str, source: str, location_id: str, observed_ts: int) -> str:
    """Return the hit id of a sighting: "h-" and 16 hex digits of a hash of its identity.

    A pure function of its arguments, so a replay after a crash yields the same ids and
    subscribers can drop duplicates. Fields are length-prefixed, so no two different
    argument tuples hash the same input (a separator could occur inside a field).
    """
    digest = hashlib.blake2b(digest_size=8)
    for field in (entry_id, source, location_id, str(int(observed_ts))):
        data = field.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(4, "little"))
        digest.update(data)
    return "h-" + digest.hexdigest()


def hit_view(hit: Hit) -> dict[str, Any]:
    """Return a hit as the contract's JSON object."""
    return {name: getattr(hit, name) for name in HIT_FIELDS}


def encode_hit(hit: Hit) -> bytes:
    """Serialise a hit as the contract's JSON."""
    return dumps(hit_view(hit))


def decode_hit(data: bytes) -> Hit:
    """Parse a hit Vigil wrote; raise ValueError if data is not one.

    Hits are Vigil's own output, so unlike input decoders this one raises: a bad hit
    is a bug, not a record to dead-letter.
    """
    obj: Any = loads(data)
    if not isinstance(obj, dict) or not set(HIT_FIELDS) <= obj.keys():
        raise ValueError("not a hit: expected an object with fields " + ", ".join(HIT_FIELDS))
    return Hit(**{name: obj[name] for name in HIT_FIELDS})
