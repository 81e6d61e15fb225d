"""Rejections as values: the reason labels, and the dead-letter payload built from them."""

from __future__ import annotations

import base64
import reprlib
from dataclasses import dataclass

from schemas.json import dumps

# Reasons are Prometheus label values, so the set must stay bounded: never put input
# values here, they go in `detail`.
REASONS: frozenset[str] = frozenset(
    {
        # whole message
        "bad_json",
        "not_a_record",
        "bad_magic",
        "bad_batch_length",
        "too_large",
        "internal_error",
        # any record
        "missing_field",
        "bad_ts",
        # sensing
        "bad_sensor_id",
        "bad_id_type",
        "bad_device_id",
        "bad_rssi",
        # plates
        "bad_camera_id",
        "bad_plate",
        "bad_confidence",
        "bad_country",
        # check-ins
        "bad_property_id",
        "bad_doc_type",
        "bad_doc_number",
        "bad_check_digit",
        # watchlist commands
        "bad_op",
        "bad_entry_id",
        "key_mismatch",
        "bad_list",
        "bad_subject_type",
        "bad_key",
        "bad_match",
        "bad_priority",
        "no_legal_basis",
        "no_requester",
        "no_expiry",
        "expired",
        "ttl_too_long",
        "no_reason",
        # watchlist entry scope (schemas/scope.py)
        "bad_scope",
        "bad_scope_location",
        "bad_scope_area",
        "bad_scope_hours",
        "bad_scope_days",
        "bad_scope_time",
        "bad_scope_tz",
        "scope_too_large",
        # location commands (also bad_op, key_mismatch)
        "bad_location_id",
        "bad_kind",
        "bad_areas",
        "bad_area",
        "bad_lat",
        "bad_lon",
        "bad_name",
        # disposition requests (HTTP only: 400 with the reason)
        "unknown_field",
        "bad_outcome",
        "missing_reason",
        "bad_reason",
        "unexpected_reason",
        "bad_note",
    }
)

DEADLETTER_MAX_VALUE_BYTES = 65536
DETAIL_VALUE_CHARS = 60


@dataclass(frozen=True, slots=True)
class Rejected:
    """One message, or one record inside it, that broke a contract rule.

    `reason` is one of REASONS; `detail` is one human-readable line; `index` is the
    record's position inside a JSON array or binary batch, None for a whole message.
    """

    reason: str
    detail: str
    index: int | None = None


_repr = reprlib.Repr()
_repr.maxstring = DETAIL_VALUE_CHARS
_repr.maxother = DETAIL_VALUE_CHARS
_repr.maxlist = _repr.maxdict = 4
_repr.maxlevel = 2


def short_repr(value: object) -> str:
    """Return a one-line repr of value short enough for a dead-letter detail."""
    # reprlib bounds the work on huge inputs; the final cut bounds the line.
    text = _repr.repr(value)
    if len(text) > DETAIL_VALUE_CHARS:
        text = text[: DETAIL_VALUE_CHARS - 1] + "…"
    return text


def encode_deadletter(
    rejected: Rejected,
    value: bytes | None,
    source_topic: str,
    partition: int | None,
    offset: int | None,
    max_value_bytes: int = DEADLETTER_MAX_VALUE_BYTES,
) -> bytes:
    """Build the contract's dead-letter JSON for a rejected input."""
    value = value or b""  # a tombstone has no value but is still worth a dead letter
    payload: dict[str, object] = {
        "reason": rejected.reason,
        "detail": rejected.detail,
        "source_topic": source_topic,
        "partition": partition,
        "offset": offset,
        "value_b64": base64.b64encode(value[:max_value_bytes]).decode("ascii"),
        "truncated": len(value) > max_value_bytes,
    }
    if rejected.index is not None:
        payload["index"] = rejected.index
    return dumps(payload)
