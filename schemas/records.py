"""JSON record plumbing shared by every input topic: one object or an array, field rules.

A field rule raises Invalid, which the decoders here turn into a Rejected for that record
alone; Invalid never leaves the schemas package, so callers only ever see values.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from schemas.identifiers import MAX_ID_CHARS, identifier_problem
from schemas.json import JSONDecodeError, loads
from schemas.rejection import Rejected, short_repr
from schemas.timestamps import parse_ts

T = TypeVar("T")
"""What a record parser builds from one JSON object."""

_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


class Invalid(Exception):
    """A broken field rule on its way to becoming a Rejected."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def rejected(self, index: int | None = None) -> Rejected:
        """Return this failure as a Rejected for the record at index."""
        return Rejected(self.reason, self.detail, index)


def json_type(value: object) -> str:
    """Name value's JSON type for a detail line ("an object", "null", ...)."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def invalid(name: str, reason: str, value: object, expected: str) -> Invalid:
    """Build the Invalid for field name holding value where expected was wanted."""
    return Invalid(reason, f"{name}: expected {expected}, got {short_repr(value)}")


def parse_json(value: bytes | str | None) -> Any | Rejected:
    """Parse a message value, or return the bad_json Rejected saying why it is not JSON."""
    if value is None:
        return Rejected("bad_json", "no value (tombstone)")
    try:
        return loads(value)
    except JSONDecodeError as exc:
        return Rejected("bad_json", f"not JSON: {short_repr(str(exc))}")


def parse_object(value: bytes | str | None) -> dict[str, Any] | Rejected:
    """Parse a message value that must be one JSON object, or return why it is not."""
    doc = parse_json(value)
    if isinstance(doc, Rejected | dict):
        return doc
    return Rejected("not_a_record", f"expected an object, got {json_type(doc)}")


def keyed_command(doc: Mapping[str, Any], key: bytes | None, id_field: str, id_reason: str,
                  ops: Collection[str]) -> tuple[str, str]:
    """Return (op, id) of a command on a compacted topic: its `op`, and its id, which must
    equal the message key (None: not checked), because compaction keeps the last command
    per key. A broken rule raises Invalid."""
    op = required_choice(doc, "op", "bad_op", ops)
    command_id = required_id(doc, id_field, id_reason)
    if key is not None and key.decode("utf-8", "replace") != command_id:
        raise invalid("key", "key_mismatch", key, f"the {id_field} {command_id!r}")
    return op, command_id


def decode_records(
    value: bytes | str | None, parse_one: Callable[[dict[str, Any]], T]
) -> tuple[list[T], list[Rejected]]:
    """Parse a value holding one JSON object or an array of them with parse_one.

    Contract: in an array a bad record is rejected alone, with its index, and the
    others are kept in order.
    """
    return records_of(parse_json(value), parse_one)


def records_of(
    doc: Any, parse_one: Callable[[dict[str, Any]], T]
) -> tuple[list[T], list[Rejected]]:
    """`decode_records` of a value already parsed by `parse_json`."""
    if isinstance(doc, Rejected):
        return [], [doc]
    if isinstance(doc, dict):
        items: list[Any] = [doc]
        indices: range | list[None] = [None]
    elif isinstance(doc, list):
        items, indices = doc, range(len(doc))
    else:
        detail = f"expected an object or an array of objects, got {json_type(doc)}"
        return [], [Rejected("not_a_record", detail)]
    records: list[T] = []
    rejected: list[Rejected] = []
    for index, item in zip(indices, items, strict=True):
        if not isinstance(item, dict):
            detail = f"expected an object, got {json_type(item)}"
            rejected.append(Rejected("not_a_record", detail, index))
            continue
        try:
            records.append(parse_one(item))
        except Invalid as exc:
            rejected.append(exc.rejected(index))
    return records, rejected


def required(obj: Mapping[str, Any], name: str, missing_reason: str = "missing_field") -> Any:
    """Return field name of obj; absent or null raises missing_reason."""
    value = obj.get(name)
    if value is None:
        raise Invalid(missing_reason, f"{name} is missing")
    return value


def required_str(
    obj: Mapping[str, Any],
    name: str,
    reason: str,
    max_chars: int = MAX_ID_CHARS,
    *,
    missing_reason: str = "missing_field",
    blank_ok: bool = True,
) -> str:
    """Return field name as a non-empty str of at most max_chars characters.

    With blank_ok=False a whitespace-only value counts as empty: a legal basis of "  "
    is no legal basis.
    """
    value = required(obj, name, missing_reason)
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= max_chars
        or (not blank_ok and not value.strip())
    ):
        raise invalid(name, reason, value, f"a non-empty string of at most {max_chars} chars")
    return value


def required_id(
    obj: Mapping[str, Any],
    name: str,
    reason: str,
    problem_of: Callable[[object], str | None] = identifier_problem,
) -> str:
    """Return field name, which must pass the rule `problem_of` (by default the identifier
    rule of entry and location ids, `schemas.identifiers`); absent or null raises
    missing_field."""
    value = required(obj, name)
    problem = problem_of(value)
    if problem is not None:
        raise Invalid(reason, f"{name}: {problem}, got {short_repr(value)}")
    return value


def required_choice(
    obj: Mapping[str, Any], name: str, reason: str, choices: Collection[str]
) -> str:
    """Return field name, which must be one of choices."""
    value = required(obj, name)
    if not isinstance(value, str) or value not in choices:
        raise invalid(name, reason, value, "one of " + "|".join(choices))
    return value


def required_ts(
    obj: Mapping[str, Any], name: str = "ts", missing_reason: str = "missing_field"
) -> int:
    """Return field name as epoch milliseconds; unparseable raises bad_ts."""
    value = required(obj, name, missing_reason)
    ts = parse_ts(value)
    if ts is None:
        raise invalid(name, "bad_ts", value, "epoch ms or RFC 3339 with offset")
    return ts


def required_int(obj: Mapping[str, Any], name: str, reason: str, lo: int, hi: int) -> int:
    """Return field name as an int in [lo, hi] (a bool is not an int here)."""
    return _checked_int(name, required(obj, name), reason, lo, hi)


def optional_int(obj: Mapping[str, Any], name: str, reason: str, lo: int, hi: int) -> int | None:
    """Return field name as an int in [lo, hi], or None when absent or null."""
    value = obj.get(name)
    return None if value is None else _checked_int(name, value, reason, lo, hi)


def _checked_int(name: str, value: object, reason: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise invalid(name, reason, value, f"an integer in [{lo}, {hi}]")
    return value


def optional_number(
    obj: Mapping[str, Any], name: str, reason: str, lo: float, hi: float
) -> float | None:
    """Return field name as a float in [lo, hi], or None when absent or null."""
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise invalid(name, reason, value, f"a number in [{lo}, {hi}]")
    return float(value)


def optional_str(obj: Mapping[str, Any], name: str, reason: str, max_chars: int) -> str | None:
    """Return field name as a non-empty str of at most max_chars, or None when absent/null."""
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= max_chars:
        raise invalid(name, reason, value, f"a non-empty string of at most {max_chars} chars")
    return value
