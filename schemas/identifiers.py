"""The identifier rule (contract v1.1, "Identifiers"): entry ids, location ids, names.

An identifier (an entry id, or a location id: `sensor_id`, `camera_id`, `property_id`, and
so a hit's `location_id`) is 1-64 characters (characters, not bytes) that are all printable,
with no `/`, no `%` and no whitespace at either end:

- printable: no character of Unicode category Cc (control: NUL, BEL, ESC, newline, tab,
  DEL, C1), Cf (format: bidi overrides such as U+202E, zero-width space U+200B, soft
  hyphen), Cs (surrogates), Co (private use), Cn (unassigned, as the running Python's
  Unicode database knows it), Zl or Zp (U+2028, U+2029). Spaces (Zs) are allowed inside.
- no `/`: identifiers are path segments (`/v1/watchlist/{entry_id}`), and `../../x` must
  never name anything but itself.
- no `%`: in a URL, `%2F` is read as `/` by one client, proxy or server and as the three
  characters `%2F` by another, so an id holding `%` could be addressed by two spellings, or
  one spelling address two ids. The contract names only `/`; `%` is refused for the same
  reason, and in location ids too (they are matched against scopes and `vigil.locations`,
  and consoles and tools put them in URLs), so there is one rule for every identifier.
- no whitespace at either end: `value == value.strip()`, Python's notion of whitespace
  (so " W-1" and "W-1" + U+3000 are refused, "Ring Rd 4" is fine).

Markup characters (`<`, `>`, `&`, quotes) are allowed in every identifier: they are
printable, so the contract allows them, and identifiers are data everywhere they go out
(JSON-encoded on topics and over HTTP, written with textContent by the console, repr() in
dead-letter details), never markup or a shell word.

List and area names are narrower: `[a-z0-9][a-z0-9._-]{0,63}` (they become metric labels
and subscriber permissions, so each has one spelling).

Each `*_problem` function returns None for a valid value, or a short phrase saying which
part of the rule it breaks (for a dead-letter detail; it never repeats the value).
Reasons (schemas/rejection.py) stay per field: bad_sensor_id, bad_camera_id,
bad_property_id, bad_entry_id, bad_list.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

MAX_ID_CHARS = 64
NAME_RULE = r"[a-z0-9][a-z0-9._-]{0,63}"
_NAME = re.compile(NAME_RULE)
# Control, format, surrogate, private-use, unassigned; line and paragraph separators.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def identifier_problem(value: object) -> str | None:
    """Return why value is not a valid identifier (see the module), or None when it is."""
    if not isinstance(value, str):
        return "not a string"
    n = len(value)
    if not 0 < n <= MAX_ID_CHARS:
        return "empty" if n == 0 else f"{n} characters, more than {MAX_ID_CHARS}"
    if not value.isprintable():
        problem = unprintable_problem(value)
        if problem is not None:
            return problem
        if value != value.strip():
            return "whitespace at either end"
    elif value[0] == " " or value[-1] == " ":  # printable: U+0020 is its only whitespace
        return "whitespace at either end"
    if "/" in value:
        return "holds '/'"
    if "%" in value:
        return "holds '%'"
    return None


def unprintable_problem(text: str) -> str | None:
    """Return which character of `text` is not printable by the rule above (spaces of any
    kind are printable here), or None; for free text, such as a disposition's note."""
    if text.isprintable():
        return None
    # str.isprintable refuses exactly the categories above plus every space but U+0020;
    # only this slow path tells the two apart.
    for ch in text:
        category = unicodedata.category(ch)
        if category in _UNPRINTABLE:
            return f"unprintable character U+{ord(ch):04X} ({category})"
    return None


def is_valid_identifier(value: object) -> bool:
    """Tell whether value is a valid entry or location id."""
    return identifier_problem(value) is None


def name_problem(value: object) -> str | None:
    """Return why value is not a valid list or area name, or None when it is."""
    if isinstance(value, str) and _NAME.fullmatch(value):
        return None
    return f"not a name of {NAME_RULE}"


def is_valid_name(value: object) -> bool:
    """Tell whether value is a valid list or area name."""
    return name_problem(value) is None


class KnownValid:
    """A bounded memo of the values one rule (`identifier_problem` by default) found valid,
    to check a column of them at once: a batch of sightings names a few sensors, seen
    batch after batch. Safe to share between threads (at worst a value is checked again).
    """

    def __init__(self, problem_of: Callable[[object], str | None] = identifier_problem,
                 limit: int = 65536) -> None:
        self._problem_of, self._limit = problem_of, limit
        self._known: set[str] = set()

    def all_valid(self, values: Iterable[object]) -> bool:
        """Tell whether every one of values passes the rule."""
        values = values if isinstance(values, list | tuple) else list(values)
        known = self._known
        try:
            if known.issuperset(values):  # holds only str, and no str equals a non-str
                return True
            new = set(values).difference(known)
        except TypeError:  # unhashable, so not a str
            return False
        problem_of = self._problem_of
        if any(problem_of(v) is not None for v in new):
            return False
        if len(new) <= self._limit:
            if len(known) + len(new) > self._limit:
                known.clear()  # forget them all rather than grow without bound
            known.update(new)  # type: ignore[arg-type]  # each passed the rule: a str
        return True
