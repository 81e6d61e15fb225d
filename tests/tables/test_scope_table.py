"""Scoped entries: the batch scope check against its plain-Python twin, and scoped matching
through the Watchlist (place, area membership as it is when matched, hours)."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.locations import LocationUpsert
from schemas.scope import Scope, decode_scope
from schemas.sensing import SensingBatch
from schemas.watchlist import WatchlistEntry
from tables.locations import LocationDirectory
from tables.matching import find_sensing_hits
from tables.scope_reference import in_scope_py
from tables.scope_table import UNSCOPED, ScopeTable
from tables.watchlist import Watchlist

NOW = 1_795_000_000_000  # 2026-11-18T08:53:20Z, a Wednesday
LOCATIONS = ("L-1", "L-2", "L-3", "L-4")
AREAS = ("north", "south", "ring")
small_scopes = st.builds(
    lambda locs, areas, hours: decode_scope({
        **({"locations": locs} if locs else {}), **({"areas": areas} if areas else {}),
        **({"hours": [{"days": "mon-fri", "from": hours[0], "to": hours[1]}], "tz": hours[2]}
           if hours else {})}),
    st.lists(st.sampled_from(LOCATIONS), max_size=2), st.lists(st.sampled_from(AREAS), max_size=2),
    st.none() | st.tuples(st.sampled_from(["07:00", "22:00"]), st.sampled_from(["06:00", "19:00"]),
                          st.sampled_from(["UTC", "Asia/Shanghai", "Europe/Berlin"])))


@settings(max_examples=150, deadline=None)
@given(scopes=st.lists(small_scopes, min_size=1, max_size=5),
       membership=st.dictionaries(st.sampled_from(LOCATIONS),
                                  st.lists(st.sampled_from(AREAS), max_size=2)),
       hits=st.lists(st.tuples(st.integers(0, 4), st.sampled_from((*LOCATIONS, "L-X")),
                               st.integers(NOW - 7 * 86_400_000, NOW + 7 * 86_400_000)),
                     max_size=30))
def test_in_scope_equals_the_reference(scopes, membership, hits) -> None:
    directory = LocationDirectory()
    for loc, areas in membership.items():
        directory.upsert(LocationUpsert(loc, "sensor", tuple(areas)))
    table = ScopeTable(directory)
    ids = [UNSCOPED, *(table.add(s) for s in scopes)]
    hits = [(ids[i % len(ids)], loc, ts) for i, loc, ts in hits]
    got = table.in_scope(np.array([s for s, _, _ in hits], np.int64),
                         np.array([ts for _, _, ts in hits], np.int64), [loc for _, loc, _ in hits])
    expected = [in_scope_py(table.scope(s), loc, membership.get(loc, ()), ts)
                for s, loc, ts in hits]
    assert got.tolist() == expected


def entry(entry_id: str, key: str, scope: Scope | None) -> WatchlistEntry:
    return WatchlistEntry(entry_id=entry_id, list="l", subject_type="device", kind="mac",
                          key=key, match="exact", priority=2, legal_basis="b", requested_by="r",
                          expires_at=NOW + 10 * 86_400_000, scope=scope)


def sightings(key: str, at: list[tuple[str, int]]) -> SensingBatch:
    return SensingBatch(
        ts=np.array([ts for _, ts in at], np.int64), id_type=np.ones(len(at), np.uint8),
        device_id=np.array([key.encode()] * len(at), "S32"), rssi=np.zeros(len(at), np.int16),
        sensor_num=np.zeros(len(at), np.uint32),
        sensor_name=np.array([loc for loc, _ in at], object))


def test_scoped_entries_hit_only_in_place_and_in_time_and_the_rest_is_counted() -> None:
    directory = LocationDirectory()
    wl = Watchlist(locations=directory)
    camera = decode_scope({"locations": ["L-1"]})
    area = decode_scope({"areas": ["old-town"]})
    nights = decode_scope({"hours": [{"days": "mon-sun", "from": "22:00", "to": "06:00"}],
                           "tz": "Asia/Shanghai"})
    wl.upsert(entry("W-CAM", "aaaaaaaaaaaa", camera))
    wl.upsert(entry("W-AREA", "bbbbbbbbbbbb", area))
    wl.upsert(entry("W-NIGHT", "cccccccccccc", nights))
    assert wl.get("W-CAM").scope == camera

    def hits(key: str, at: list[tuple[str, int]]) -> list[str]:
        return [h.location_id for h in find_sensing_hits(sightings(key, at), wl, NOW)]

    assert hits("aaaaaaaaaaaa", [("L-1", NOW), ("L-2", NOW)]) == ["L-1"]
    assert wl.out_of_scope == 1
    # Not in the area until the location joins it; then from the next batch on.
    assert hits("bbbbbbbbbbbb", [("L-2", NOW)]) == []
    directory.upsert(LocationUpsert("L-2", "sensor", ("old-town",)))
    assert hits("bbbbbbbbbbbb", [("L-2", NOW), ("L-3", NOW)]) == ["L-2"]
    # 08:53 UTC is 16:53 in Shanghai: out; 15:00 UTC is 23:00 there: in.
    at_23_shanghai = NOW - (8 * 60 + 53) * 60_000 + 15 * 3_600_000 - 20_000
    assert hits("cccccccccccc", [("L-9", NOW), ("L-9", at_23_shanghai)]) == ["L-9"]
    assert wl.out_of_scope == 4


def test_scopes_survive_a_restore_and_rescoping_moves_the_entry() -> None:
    wl = Watchlist(secret=b"s")
    camera = decode_scope({"locations": ["L-1"]})
    wl.upsert(entry("W-1", "aaaaaaaaaaaa", camera))
    wl.upsert(entry("W-2", "aaaaaaaaaaaa", None))
    arrays, counters = wl.index.snapshot()
    again = Watchlist(secret=b"s")
    again.index.restore({k: v.copy() for k, v in arrays.items()}, counters)
    again.restore(wl.list_names, wl.scopes)
    batch = sightings("aaaaaaaaaaaa", [("L-1", NOW), ("L-2", NOW)])
    assert [(h.entry_id, h.location_id) for h in find_sensing_hits(batch, again, NOW)] == [
        ("W-1", "L-1"), ("W-2", "L-1"), ("W-2", "L-2")]
    again.upsert(dataclasses.replace(entry("W-1", "aaaaaaaaaaaa", None)))
    assert again.get("W-1").scope is None
    assert len(find_sensing_hits(batch, again, NOW)) == 4
