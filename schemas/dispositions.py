"""Dispositions (contract v1.1): what a subscriber says came of a hit, and its record on
`vigil.dispositions`.

A request body is `{"outcome", "reason", "note"}`. Where the contract is silent:

- `reason` belongs to `false_positive` only: on `confirmed` or `no_action` it is refused
  (`unexpected_reason`) rather than ignored, so nobody believes they recorded a reason that
  the precision report never counts. `"reason": null` is the same as leaving it out.
- `note` is free text, at most NOTE_MAX_CHARS characters (not bytes), on one line and
  printable (`unprintable_problem` in schemas/identifiers.py: no control or format
  character, no line separator, so a note cannot reorder or break what a console or a
  terminal shows); spaces anywhere are fine. `null` or absent: no note.
- Any other field is refused (`unknown_field`), so a misspelt `"reasn"` is not silently
  dropped.

Parsing returns a `Rejected` (reason, one-line detail that never repeats the note) rather
than raising: a bad body is input, not a bug.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from schemas.hits import Hit
from schemas.identifiers import unprintable_problem
from schemas.json import dumps, loads
from schemas.rejection import Rejected, short_repr

OUTCOMES = ("confirmed", "false_positive", "no_action")
FALSE_POSITIVE_REASONS = ("misread", "wrong_subject", "cloned_or_copied", "duplicate", "other")
NOTE_MAX_CHARS = 500
BODY_FIELDS = frozenset({"outcome", "reason", "note"})
# The record on `vigil.dispositions`, in the contract's order. A report and a dashboard
# are built on these names: keep them as they are.
RECORD_FIELDS = ("hit_id", "entry_id", "list", "priority", "source", "match", "outcome",
                 "reason", "note", "by", "at")
# What `GET /v1/hits/{hit_id}` shows of the disposition in force.
SHOWN_FIELDS = ("outcome", "reason", "note", "by", "at")


@dataclass(frozen=True, slots=True)
class DispositionRequest:
    """A valid request body: the outcome, and the reason and note (None when absent)."""

    outcome: str
    reason: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class Disposition:
    """One disposition of a hit as written to `vigil.dispositions`."""

    hit_id: str
    entry_id: str
    list: str
    priority: int
    source: str
    match: str
    outcome: str
    reason: str | None
    note: str | None
    by: str
    at: int

    def shown(self) -> dict[str, Any]:
        """Return what a GET of the hit shows of this disposition."""
        return {name: getattr(self, name) for name in SHOWN_FIELDS}


def _note_problem(note: str) -> str | None:
    if len(note) > NOTE_MAX_CHARS:
        return f"{len(note)} characters, more than {NOTE_MAX_CHARS}"
    return unprintable_problem(note)


def parse_disposition_request(body: bytes) -> DispositionRequest | Rejected:
    """Check a request body; return the request, or a Rejected with the rule it broke."""
    try:
        doc = loads(body)
    except ValueError:
        return Rejected("bad_json", "the body is not JSON")
    if not isinstance(doc, dict):
        return Rejected("not_a_record", "the body must be a JSON object")
    unknown = sorted(set(doc) - BODY_FIELDS)
    if unknown:
        return Rejected("unknown_field", f"unknown field {short_repr(unknown[0])}; the fields "
                        f"are {', '.join(sorted(BODY_FIELDS))}")
    outcome, reason, note = doc.get("outcome"), doc.get("reason"), doc.get("note")
    if outcome not in OUTCOMES:
        return Rejected("bad_outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
    if outcome == "false_positive":
        if reason is None:
            return Rejected("missing_reason", "a false_positive needs a reason: one of "
                            + ", ".join(FALSE_POSITIVE_REASONS))
        if reason not in FALSE_POSITIVE_REASONS:
            return Rejected("bad_reason", "reason must be one of "
                            + ", ".join(FALSE_POSITIVE_REASONS))
    elif reason is not None:
        return Rejected("unexpected_reason", f"a reason is for false_positive only, not "
                        f"{outcome}")
    if note is not None:
        if not isinstance(note, str):
            return Rejected("bad_note", "note must be a string")
        problem = _note_problem(note)
        if problem is not None:
            return Rejected("bad_note", f"note: {problem}")
    return DispositionRequest(outcome, reason, note)


def make_disposition(hit: Hit, request: DispositionRequest, by: str, at_ms: int
                     ) -> Disposition:
    """Return the disposition `by` records of `hit` at `at_ms`."""
    return Disposition(hit.hit_id, hit.entry_id, hit.list, hit.priority, hit.source,
                       hit.match, request.outcome, request.reason, request.note, by, at_ms)


def encode_disposition(disposition: Disposition) -> bytes:
    """Serialise a disposition as the contract's JSON (every field, null when absent)."""
    return dumps(asdict(disposition))


def decode_disposition(data: bytes) -> Disposition:
    """Parse a disposition Vigil wrote; raise ValueError if data is not one (output of
    Vigil's own, so a bad one is a bug, as with hits)."""
    obj: Any = loads(data)
    if not isinstance(obj, dict) or not set(RECORD_FIELDS) <= obj.keys():
        raise ValueError("not a disposition: expected an object with fields "
                         + ", ".join(RECORD_FIELDS))
    return Disposition(**{name: obj[name] for name in RECORD_FIELDS})
