"""Scoped entries for the load tests (contract v1.1, "Entry scope") and the location ids of
the load streams.

`ScopePlan` picks a share of the generated entries to carry a scope, in turn one of named
locations, areas, or weekly hours in Asia/Shanghai or Europe/Berlin. It writes the location
commands (`vigil.locations`) that put every other location of each stream in one or two
areas, and places a planted sighting of a place-scoped entry inside or outside its places
(about half each). Hours windows are set around the generator's start: half of the
hours-scoped entries are inside theirs for at least two hours, half outside for at least
two days. Whether a planted sighting must hit is not decided here: the ground truth
(`loadtest.traffic.groundtruth`) asks the plain-Python `in_scope_py` at its send time.

Scopes come from a random stream of their own, so a spec with scoped entries has the same
entries and keys as one without.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from schemas.scope import DAY_NAMES, Scope, decode_scope, format_time
from tables.scope_reference import local_time

JSON_SENSOR_BASE = 500_000  # JSON sensors are numbered apart from binary ones
AREAS = tuple(f"lt-area-{i}" for i in range(8))
HOURS_ZONES = ("Asia/Shanghai", "Europe/Berlin")  # no daylight saving, and one with it
SCOPE_KINDS = ("locations", "areas", "hours")
NAMED_LOCATIONS = 4  # locations of a location-scoped entry (each in every stream it has)
WINDOW_MIN = 240
HOUR_MS = 3_600_000
# The load streams whose locations a subject's entries are sighted at, and their kind.
SUBJECT_STREAMS = {"device": ("sensing_binary", "sensing_json"), "plate": ("plates",),
                   "document": ("checkins",)}
LOCATION_KIND = {"device": "sensor", "plate": "camera", "document": "property"}


def location_id(stream: str, index: int) -> str:
    """Return the id of location `index` (from 0) of a load stream."""
    if stream == "sensing_binary":
        return f"S-{index + 1:06d}"
    if stream == "sensing_json":
        return f"S-{JSON_SENSOR_BASE + index + 1:06d}"
    if stream == "plates":
        return f"C-{index + 1:04d}"
    return f"P-{index + 1:05d}"


def areas_of(index: int) -> tuple[str, ...]:
    """Return the areas location `index` belongs to (the same in every stream): none for
    odd indices, one or, for every third even index, two."""
    if index % 2:
        return ()
    first = AREAS[index // 2 % len(AREAS)]
    if index % 6:
        return (first,)
    return first, AREAS[(index // 2 + 3) % len(AREAS)]


@dataclass(frozen=True, slots=True)
class EntryScope:
    """The scope of one generated entry: as its command carries it, canonical, and for a
    place-scoped entry the location indices it names or the areas it names."""

    command: dict
    scope: Scope
    named: tuple[int, ...] = ()
    areas: tuple[str, ...] = ()


class ScopePlan:
    """Which entries of each subject are scoped and how; where their sightings are placed."""

    def __init__(self, rng: np.random.Generator, share: float, start_ms: int,
                 sizes: dict[str, tuple[int, int]]) -> None:
        """`sizes`: per subject, (entries, locations) of the generator; a place-scoped
        entry needs a location outside its places, so each subject needs two locations."""
        if share and min(n for _, n in sizes.values()) < 2:
            raise ValueError("scoped entries need at least two locations of each kind")
        self.sizes = sizes
        self.entries: dict[str, dict[int, EntryScope]] = {s: {} for s in sizes}
        self._members = {s: {a: [i for i in range(n) if a in areas_of(i)] for a in AREAS}
                         for s, (_, n) in sizes.items()}
        for subject, (n_entries, n_locations) in sizes.items():
            chosen = np.sort(rng.choice(n_entries, round(share * n_entries), replace=False))
            for turn, entry in enumerate(chosen.tolist()):
                self.entries[subject][entry] = self._scope(
                    rng, subject, SCOPE_KINDS[turn % 3], turn // 3, n_locations, start_ms)

    def _scope(self, rng: np.random.Generator, subject: str, kind: str, turn: int,
               n_locations: int, start_ms: int) -> EntryScope:
        if kind == "locations":
            count = min(NAMED_LOCATIONS, n_locations - 1)  # one left outside
            named = tuple(sorted(rng.choice(n_locations, count, replace=False).tolist()))
            ids = [location_id(s, i) for s in SUBJECT_STREAMS[subject] for i in named]
            return _entry_scope({"locations": ids}, named=named)
        if kind == "areas":
            peopled = [a for a in AREAS if self._members[subject][a]]
            count = min(len(peopled), 1 + turn % 2)
            areas = tuple(sorted(rng.choice(peopled, count, replace=False).tolist()))
            return _entry_scope({"areas": list(areas)}, areas=areas)
        zone = HOURS_ZONES[turn // 2 % len(HOURS_ZONES)]
        return _entry_scope({"hours": [_window(start_ms, zone, inside=turn % 2 == 0)],
                             "tz": zone})

    def scope_command(self, subject: str, entry: int) -> dict | None:
        """Return the `scope` of entry `entry` (its index among the subject's) or None."""
        held = self.entries[subject].get(entry)
        return held.command if held else None

    def scope_of(self, subject: str, entry: int) -> Scope | None:
        """Return the canonical scope of entry `entry`, None when it is unscoped."""
        held = self.entries[subject].get(entry)
        return held.scope if held else None

    def place(self, subject: str, entry: int, candidate: int) -> int:
        """Return where to sight entry `entry` instead of location `candidate`: inside its
        places for an even candidate, outside them for an odd one; unchanged when the entry
        does not limit places."""
        held = self.entries[subject].get(entry)
        if held is None or not (held.named or held.areas):
            return candidate
        if candidate % 2 == 0:
            if held.named:
                return held.named[candidate // 2 % len(held.named)]
            members = self._members[subject][held.areas[candidate // 2 % len(held.areas)]]
            return members[candidate // 2 % len(members)]
        n_locations = self.sizes[subject][1]
        loc = candidate
        while loc in held.named or set(areas_of(loc)) & set(held.areas):
            loc = (loc + 1) % n_locations  # the odd indices belong to no area: this ends
        return loc

    def location_commands(self) -> list[dict]:
        """Return the location commands that put the locations in their areas."""
        return [{"op": "upsert", "location_id": location_id(stream, i),
                 "kind": LOCATION_KIND[subject], "areas": list(areas_of(i))}
                for subject, (_, n_locations) in self.sizes.items()
                for stream in SUBJECT_STREAMS[subject]
                for i in range(n_locations) if areas_of(i)]


def _entry_scope(command: dict, named: tuple[int, ...] = (), areas: tuple[str, ...] = ()
                 ) -> EntryScope:
    scope = decode_scope(command)
    assert scope is not None  # every command above limits place or time
    return EntryScope(command, scope, named, areas)


def _window(start_ms: int, tz: str, *, inside: bool) -> dict:
    """Return a four-hour weekly window in `tz` from the whole hour an hour before
    `start_ms`: on that day when `inside`, else three days later."""
    local = local_time(start_ms - HOUR_MS, tz)
    day = local.weekday() if inside else (local.weekday() + 3) % 7
    start = local.hour * 60
    return {"days": DAY_NAMES[day], "from": format_time(start),
            "to": format_time((start + WINDOW_MIN) % 1440)}
