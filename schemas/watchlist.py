"""Watchlist commands: upsert an entry, or delete one, with every contract rule checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.identifiers import NAME_RULE, is_valid_name
from schemas.json import dumps
from schemas.normalize import (
    DOC_TYPES,
    ID_TYPES,
    check_digit_ok,
    normalize_device_id,
    normalize_doc_number,
    normalize_plate,
)
from schemas.records import (
    Invalid,
    invalid,
    keyed_command,
    parse_object,
    required,
    required_choice,
    required_int,
    required_str,
    required_ts,
)
from schemas.rejection import Rejected
from schemas.scope import Scope, decode_scope, encode_scope
from schemas.timestamps import MAX_TS_MS

OPS = ("upsert", "delete")
SUBJECT_TYPES = ("device", "plate", "document")
MATCH_RULES = ("exact", "ocr-tolerant")
# Which field carries an entry's `kind`, per subject type (plates have none).
KIND_FIELDS = {"device": "id_type", "document": "doc_type"}
MS_PER_DAY = 86_400_000
MAX_REQUESTER_CHARS = 128
MAX_TEXT_CHARS = 500


@dataclass(frozen=True, slots=True)
class WatchlistEntry:
    """An entry to add or replace; `key` is normalised like the records it matches.

    `kind` is the id_type of a device, the doc_type of a document, "" for a plate.
    `scope` (v1.1) is None for an entry that matches at every place and time.
    """

    entry_id: str
    list: str
    subject_type: str
    kind: str
    key: str
    match: str
    priority: int
    legal_basis: str
    requested_by: str
    expires_at: int
    scope: Scope | None = None

    @property
    def match_key(self) -> tuple[str, str, str]:
        """Return (subject_type, kind, key), what a record must equal to match."""
        return (self.subject_type, self.kind, self.key)


@dataclass(frozen=True, slots=True)
class WatchlistDelete:
    """A request to remove an entry."""

    entry_id: str
    requested_by: str
    reason: str


def decode_watchlist_command(
    value: bytes, key: bytes | None, reference_ms: int, max_ttl_days: int
) -> WatchlistEntry | WatchlistDelete | Rejected:
    """Decode one watchlist command, judging expiry against reference_ms.

    Callers pass the Kafka message timestamp as reference_ms, not the clock, so that a
    replay of the topic from its beginning accepts and rejects each command exactly as
    when it was written. `key` is the message key; it must equal entry_id, because log
    compaction keeps the last command per key.
    """
    doc = parse_object(value)
    if isinstance(doc, Rejected):
        return doc
    try:
        op, entry_id = keyed_command(doc, key, "entry_id", "bad_entry_id", OPS)
        if op == "delete":
            return WatchlistDelete(
                entry_id=entry_id,
                requested_by=_requester(doc),
                reason=required_str(
                    doc,
                    "reason",
                    "no_reason",
                    MAX_TEXT_CHARS,
                    missing_reason="no_reason",
                    blank_ok=False,
                ),
            )
        return _parse_upsert(doc, entry_id, reference_ms, max_ttl_days)
    except Invalid as exc:
        return exc.rejected()


def _requester(doc: dict[str, Any]) -> str:
    return required_str(
        doc,
        "requested_by",
        "no_requester",
        MAX_REQUESTER_CHARS,
        missing_reason="no_requester",
        blank_ok=False,
    )


# List names found valid, so that each is checked against the name rule once (bounded: a
# load of invented names falls back to checking each).
_VALID_LISTS: set[str] = set()
_VALID_LISTS_MAX = 4096


def _text_ok(value: object, max_chars: int) -> bool:
    """Whether `required_str(..., blank_ok=False)` would return `value` as it is: checked
    here without a call per rule (a bulk load decodes 10^5 commands a second)."""
    return type(value) is str and 0 < len(value) <= max_chars and not value[0].isspace()


def _parse_upsert(
    doc: dict[str, Any], entry_id: str, reference_ms: int, max_ttl_days: int
) -> WatchlistEntry:
    # Each field: a quick check that the value is fine as it is, else the field rule, which
    # refuses it with its reason (or returns it); rules apply in the same order either way.
    get = doc.get
    list_name = get("list")
    if type(list_name) is not str or list_name not in _VALID_LISTS:
        list_name = required(doc, "list")
        # List names become metric labels and subscriber permissions: one spelling each.
        if not is_valid_name(list_name):
            raise invalid("list", "bad_list", list_name, f"a name of {NAME_RULE}")
        if len(_VALID_LISTS) < _VALID_LISTS_MAX:
            _VALID_LISTS.add(list_name)
    subject_type = get("subject_type")
    if type(subject_type) is not str or subject_type not in SUBJECT_TYPES:
        subject_type = required_choice(doc, "subject_type", "bad_subject_type", SUBJECT_TYPES)
    kind = ""
    if subject_type == "device":
        kind = get("id_type")
        if type(kind) is not str or kind not in ID_TYPES:
            kind = required_choice(doc, "id_type", "bad_id_type", ID_TYPES)
    elif subject_type == "document":
        kind = required_choice(doc, "doc_type", "bad_doc_type", DOC_TYPES)
    raw_key = get("key")
    key = _normalize_key(subject_type, kind, required(doc, "key") if raw_key is None else raw_key)
    match = get("match")
    match = "exact" if match is None else match
    if match not in MATCH_RULES or (match != "exact" and subject_type != "plate"):
        raise invalid("match", "bad_match", match, "exact, or ocr-tolerant for a plate")
    priority = get("priority")
    if type(priority) is not int or not 1 <= priority <= 3:
        priority = required_int(doc, "priority", "bad_priority", 1, 3)
    legal_basis = get("legal_basis")
    if not _text_ok(legal_basis, MAX_TEXT_CHARS):
        legal_basis = required_str(
            doc,
            "legal_basis",
            "no_legal_basis",
            MAX_TEXT_CHARS,
            missing_reason="no_legal_basis",
            blank_ok=False,
        )
    requested_by = get("requested_by")
    if not _text_ok(requested_by, MAX_REQUESTER_CHARS):
        requested_by = _requester(doc)
    expires_at = get("expires_at")
    if type(expires_at) is not int or not 0 <= expires_at <= MAX_TS_MS:
        expires_at = required_ts(doc, "expires_at", missing_reason="no_expiry")
    if expires_at <= reference_ms:
        raise Invalid("expired", f"expires_at {expires_at} is not after {reference_ms}")
    if expires_at > reference_ms + max_ttl_days * MS_PER_DAY:
        detail = f"expires_at {expires_at} is more than {max_ttl_days} days after {reference_ms}"
        raise Invalid("ttl_too_long", detail)
    raw_scope = get("scope")
    return WatchlistEntry(
        entry_id, list_name, subject_type, kind, key, match, priority, legal_basis,
        requested_by, expires_at, None if raw_scope is None else decode_scope(raw_scope),
    )


def _normalize_key(subject_type: str, kind: str, raw: object) -> str:
    # Same functions as the record decoders: an entry must compare equal to its records.
    if not isinstance(raw, str):
        raise invalid("key", "bad_key", raw, "a string")
    if subject_type == "device":
        key = normalize_device_id(kind, raw)
    elif subject_type == "plate":
        key = normalize_plate(raw)
    else:
        key = normalize_doc_number(kind, raw)
        if key is not None and not check_digit_ok(kind, key):
            raise Invalid("bad_check_digit", "key: fails the GB 11643 check digit")
    if key is None:
        raise invalid("key", "bad_key", raw, f"a valid {kind or subject_type}")
    return key


def encode_watchlist_command(cmd: WatchlistEntry | WatchlistDelete) -> bytes:
    """Serialise a command as the contract's JSON; decoding it gives cmd back."""
    if isinstance(cmd, WatchlistDelete):
        return dumps(
            {
                "op": "delete",
                "entry_id": cmd.entry_id,
                "requested_by": cmd.requested_by,
                "reason": cmd.reason,
            }
        )
    payload: dict[str, object] = {
        "op": "upsert",
        "entry_id": cmd.entry_id,
        "list": cmd.list,
        "subject_type": cmd.subject_type,
    }
    if cmd.subject_type in KIND_FIELDS:
        payload[KIND_FIELDS[cmd.subject_type]] = cmd.kind
    payload.update(
        key=cmd.key,
        match=cmd.match,
        priority=cmd.priority,
        legal_basis=cmd.legal_basis,
        requested_by=cmd.requested_by,
        expires_at=cmd.expires_at,
    )
    if cmd.scope is not None:
        payload["scope"] = encode_scope(cmd.scope)
    return dumps(payload)
