"""Entry scope (contract v1.1, "Entry scope"): the places and weekly hours an entry is for.

`decode_scope` checks a command's `scope` object and returns its canonical `Scope`, a small
frozen, hashable value: equal scopes compare and hash equal however they were written, so a
store can keep one copy per distinct scope and an entry only a reference to it.

Decisions the contract leaves open (docs/operating.md, "Entry scope", says them too):

- Duplicates in `locations`, `areas` or `hours` are accepted and dropped; the limits
  (1,000 locations, 64 areas, 32 windows) count the items as sent, so the work a command can
  cause stays bounded.
- An empty list is refused: `"locations": []` could mean "nowhere" or "everywhere", and
  reading it as everywhere would widen a search that its sender meant to narrow.
- Unknown fields inside `scope` or a window are refused: a misspelt `"hour"` would otherwise
  silently make an entry match at every hour.
- A scope that limits nothing (`{}`, or only `tz`) is no scope: the entry matches everywhere
  and always, as the contract says of absent `locations`, `areas` and `hours`.
- `days`: `mon`..`sun`, a range read forward through the week (`mon-fri`; `fri-mon` is
  fri, sat, sun, mon), or a comma list of days and ranges (`sat,sun`, `mon-wed,sat`); case
  and spaces around the items are ignored.
- `from` == `to` is refused (an empty window, or a whole day: the sender's intent is not
  clear); `to` may be `24:00`, the end of the day, so a whole day is `00:00`-`24:00`.
- `tz`: a zone name of the IANA database as this machine's zoneinfo knows it, except
  `localtime` (the machine's own zone, which differs between workers).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from schemas.identifiers import identifier_problem, name_problem
from schemas.records import Invalid, json_type
from schemas.rejection import short_repr

MAX_LOCATIONS = 1000
MAX_AREAS = 64
MAX_WINDOWS = 32
DEFAULT_TZ = "UTC"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 1440
SCOPE_FIELDS = ("locations", "areas", "hours", "tz")
WINDOW_FIELDS = ("days", "from", "to")
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
# Zone names that exist in a tz directory but do not name one zone for every worker.
_MACHINE_ZONES = frozenset({"localtime"})


@dataclass(frozen=True, slots=True)
class HoursWindow:
    """A weekly window: on each day of `days`, from `from_min` to `to_min` local time.

    `days` is a bit set, bit 0 Monday .. bit 6 Sunday: the days the window starts on.
    Minutes count from local midnight: `from_min` in [0, 1439], `to_min` in [1, 1440] and
    never equal to `from_min`; `to_min` < `from_min` spans midnight into the next day.
    """

    from_min: int
    to_min: int
    days: int

    @property
    def length_min(self) -> int:
        """Return the window's length in minutes (1 to 1440)."""
        return (self.to_min - self.from_min) % MINUTES_PER_DAY or MINUTES_PER_DAY


@dataclass(frozen=True, slots=True)
class Scope:
    """An entry's scope in canonical form: each tuple sorted and without duplicates, and at
    most one window per (from, to) (windows that differ only in days are merged).

    Empty `locations` and `areas`: every place. Empty `hours`: any time.
    """

    locations: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()
    hours: tuple[HoursWindow, ...] = ()
    tz: str = DEFAULT_TZ

    @property
    def limits_place(self) -> bool:
        """Tell whether the scope names places (else it admits every place)."""
        return bool(self.locations or self.areas)


def canonical_hours(windows: list[HoursWindow]) -> tuple[HoursWindow, ...]:
    """Return windows merged per (from, to) and sorted: the canonical `Scope.hours`."""
    days_of: dict[tuple[int, int], int] = {}
    for w in windows:
        days_of[w.from_min, w.to_min] = days_of.get((w.from_min, w.to_min), 0) | w.days
    return tuple(HoursWindow(f, t, d) for (f, t), d in sorted(days_of.items()))


def decode_scope(value: object) -> Scope | None:
    """Return the canonical Scope of a command's `scope` value, None for one that limits
    nothing (absent, null, `{}`, only `tz`); a broken rule raises Invalid with its reason."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid("bad_scope", f"scope: expected an object, got {json_type(value)}")
    unknown = [k for k in value if k not in SCOPE_FIELDS]
    if unknown:
        raise Invalid("bad_scope", f"scope: unknown field {short_repr(unknown[0])}")
    tz = _zone(value.get("tz"))
    locations = _names(value, "locations", MAX_LOCATIONS, "bad_scope_location", identifier_problem)
    areas = _names(value, "areas", MAX_AREAS, "bad_scope_area", name_problem)
    hours = _hours(value)
    if not (locations or areas or hours):
        return None
    return Scope(locations, areas, hours, tz)


def _items(value: dict[str, Any], field: str, limit: int, reason: str) -> list[Any]:
    items = value.get(field)
    if items is None:
        return []
    if not isinstance(items, list) or not items:
        raise Invalid(reason, f"scope.{field}: expected a non-empty array, "
                              f"got {short_repr(items)}")
    if len(items) > limit:
        raise Invalid("scope_too_large", f"scope.{field}: {len(items)} items, more than {limit}")
    return items


def _names(value: dict[str, Any], field: str, limit: int, reason: str,
           problem_of: Callable[[object], str | None]) -> tuple[str, ...]:
    items = _items(value, field, limit, reason)
    for item in items:
        problem = problem_of(item)
        if problem is not None:
            raise Invalid(reason, f"scope.{field}: {problem}, got {short_repr(item)}")
    return tuple(sorted(set(items)))


def _hours(value: dict[str, Any]) -> tuple[HoursWindow, ...]:
    windows = _items(value, "hours", MAX_WINDOWS, "bad_scope_hours")
    return canonical_hours([_window(w) for w in windows])


def _window(window: object) -> HoursWindow:
    if not isinstance(window, dict):
        raise Invalid("bad_scope_hours",
                      f"scope.hours: expected an object, got {json_type(window)}")
    unknown = [k for k in window if k not in WINDOW_FIELDS]
    missing = [k for k in WINDOW_FIELDS if window.get(k) is None]
    if unknown or missing:
        what = f"unknown field {short_repr(unknown[0])}" if unknown else f"{missing[0]} is missing"
        raise Invalid("bad_scope_hours", f"scope.hours: {what}")
    from_min = parse_time(window["from"], end=False)
    to_min = parse_time(window["to"], end=True)
    if from_min == to_min:
        raise Invalid("bad_scope_hours", f"scope.hours: from equals to ({window['from']}): an "
                                         "empty window; a whole day is 00:00-24:00")
    return HoursWindow(from_min, to_min, parse_days(window["days"]))


def parse_time(value: object, *, end: bool) -> int:
    """Return `HH:MM` (24 h; `24:00` too when `end`) as minutes after midnight."""
    if end and value == "24:00":
        return MINUTES_PER_DAY
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise Invalid("bad_scope_time", f"scope.hours: expected HH:MM (00:00-23:59"
                                        f"{', or 24:00' if end else ''}), got {short_repr(value)}")
    return int(match[1]) * 60 + int(match[2])


def parse_days(value: object) -> int:
    """Return a `days` value (`mon`, `mon-fri`, `sat,sun`) as a bit set, bit 0 Monday."""
    if not isinstance(value, str) or len(value) > 64:
        raise Invalid("bad_scope_days", f"scope.hours: days: expected a string such as "
                                        f"mon-fri or sat,sun, got {short_repr(value)}")
    mask = 0
    for item in value.lower().split(","):
        first, sep, last = (part.strip() for part in item.partition("-"))
        if first not in DAY_NAMES or (sep and last not in DAY_NAMES):
            raise Invalid("bad_scope_days", f"scope.hours: days: expected mon..sun, a range "
                                            f"or a list of them, got {short_repr(value)}")
        start = DAY_NAMES.index(first)
        span = (DAY_NAMES.index(last) - start) % 7 if sep else 0
        for i in range(span + 1):
            mask |= 1 << ((start + i) % 7)
    return mask


def format_days(mask: int) -> str:
    """Return a days bit set as `days` text: `mon-fri` for a run of days, else a list."""
    days = [i for i in range(7) if mask >> i & 1]
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{DAY_NAMES[days[0]]}-{DAY_NAMES[days[-1]]}"
    return ",".join(DAY_NAMES[i] for i in days)


def format_time(minutes: int) -> str:
    """Return minutes after midnight as `HH:MM` (1440 as `24:00`)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _zone(value: object) -> str:
    if value is None:
        return DEFAULT_TZ
    if not isinstance(value, str) or value in _MACHINE_ZONES or value not in _known_zones():
        raise Invalid("bad_scope_tz", f"scope.tz: expected an IANA zone name such as "
                                      f"Europe/Berlin, got {short_repr(value)}")
    return value


@cache
def _known_zones() -> frozenset[str]:
    # Walks the tz database once (about 0.1 s); a name must be in it, so no file path (such
    # as "../x") ever reaches ZoneInfo.
    return frozenset(zoneinfo.available_timezones())


def encode_scope(scope: Scope) -> dict[str, Any]:
    """Return scope as the contract's JSON object; `decode_scope` of it gives scope back."""
    out: dict[str, Any] = {}
    if scope.locations:
        out["locations"] = list(scope.locations)
    if scope.areas:
        out["areas"] = list(scope.areas)
    if scope.hours:
        out["hours"] = [{"days": format_days(w.days), "from": format_time(w.from_min),
                         "to": format_time(w.to_min)} for w in scope.hours]
    out["tz"] = scope.tz
    return out


def read_scope(value: object) -> Scope | None:
    """Return the Scope of a value this program wrote itself (a checkpoint's), as
    `decode_scope` does; a broken one raises ValueError."""
    try:
        return decode_scope(value)
    except Invalid as exc:
        raise ValueError(f"{exc.reason}: {exc.detail}") from None
