"""The plain-Python twin of the location directory (tables/locations.py), for tests: a
dict of sets, written for clarity, that the directory's codes, rows and kernel must agree
with."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from schemas.locations import LocationUpsert


class ReferenceDirectory:
    """Location id to its set of areas."""

    def __init__(self) -> None:
        self.areas: dict[str, tuple[str, ...]] = {}

    def upsert(self, location: LocationUpsert) -> None:
        """Add a location or replace its areas."""
        self.areas[location.location_id] = location.areas

    def delete(self, location_id: str) -> bool:
        """Forget a location; return whether it was known."""
        return self.areas.pop(location_id, None) is not None

    def areas_known(self) -> int:
        """How many areas at least one location belongs to."""
        return len({a for areas in self.areas.values() for a in areas})

    def in_any_area(self, location_ids: Sequence[str],
                    wanted: Sequence[Collection[str]]) -> list[bool]:
        """For each i, whether location_ids[i] is known and in one of wanted[i]."""
        return [bool(set(self.areas.get(loc, ())) & set(want))
                for loc, want in zip(location_ids, wanted, strict=True)]
