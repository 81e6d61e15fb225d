"""The watchlist table and the simple matchers, against a plain-Python reference."""

from __future__ import annotations

import dataclasses

import hypothesis.strategies as st
import numpy as np
from hypothesis import given, settings

from schemas.checkins import CheckIn
from schemas.normalize import ID_TYPE_CODES, OCR_CLASSES
from schemas.plates import PlateRead
from schemas.sensing import SensingBatch
from schemas.watchlist import WatchlistEntry
from tables.matching import find_checkin_hits, find_plate_hits, find_sensing_hits
from tables.watchlist import Gone, Watchlist

NOW = 1_795_000_000_000


def entry(entry_id: str, subject_type: str, kind: str, key: str, match: str = "exact",
          expires_at: int = NOW + 1000) -> WatchlistEntry:
    return WatchlistEntry(entry_id=entry_id, list="l", subject_type=subject_type, kind=kind,
                          key=key, match=match, priority=2, legal_basis="b", requested_by="r",
                          expires_at=expires_at)


def same_class(a: str, b: str) -> bool:
    """Reference rule: equal, or in one confusion class."""
    return a == b or any(a in cls and b in cls for cls in OCR_CLASSES)


def plate_matches(entry: WatchlistEntry, read: str) -> str | None:
    """Reference plate matcher, character by character."""
    if entry.key == read:
        return "exact"
    if entry.match == "ocr-tolerant" and len(entry.key) == len(read) and all(
            same_class(a, b) for a, b in zip(entry.key, read, strict=True)):
        return "ocr-tolerant"
    return None


PLATE_CHARS = "鲁京K0ODQ1IL2Z5S6G8B7AX"
plates = st.text(alphabet=PLATE_CHARS, min_size=1, max_size=4)


@settings(deadline=None)
@given(keys=st.lists(st.tuples(plates, st.sampled_from(["exact", "ocr-tolerant"]),
                               st.booleans()), max_size=8),
       reads=st.lists(plates, max_size=8), deletes=st.sets(st.integers(0, 7)),
       hash_bits=st.sampled_from([2, 64]))
def test_plate_matching_equals_reference(keys, reads, deletes, hash_bits) -> None:
    """Mixed OCR classes, expired and deleted entries; 2-bit hashes make all keys collide."""
    wl = Watchlist(hash_bits=hash_bits)
    live = []
    for i, (key, match, expired) in enumerate(keys):
        e = entry(f"W-{i}", "plate", "", key, match, NOW - 1 if expired else NOW + 1)
        wl.upsert(e)
        if i in deletes:
            wl.delete(e.entry_id)
        elif not expired:
            live.append(e)
    batch = [PlateRead(camera_id="C-1", ts=NOW, plate=r, plate_norm=r, confidence=None,
                       country=None) for r in reads]
    got = [(h.entry_id, h.observed["plate"], h.match) for h in find_plate_hits(batch, wl, NOW)]
    expected = [(e.entry_id, r, m) for r in reads
                for e in sorted(live, key=lambda e: e.entry_id)
                if (m := plate_matches(e, r)) is not None]
    assert got == expected


def mac_sighting_hits(wl: Watchlist, mac: str, now: int) -> list[str]:
    batch = SensingBatch(
        ts=np.array([now], np.int64), id_type=np.array([1], np.uint8),
        device_id=np.array([mac.encode()], "S32"), rssi=np.array([-50], np.int16),
        sensor_num=np.array([1], np.uint32))
    return [h.entry_id for h in find_sensing_hits(batch, wl, now)]


def test_upsert_replaces_and_moves_the_index() -> None:
    wl = Watchlist()
    wl.upsert(entry("W-1", "device", "mac", "aaaaaaaaaaaa"))
    assert wl.upsert(entry("W-1", "device", "mac", "bbbbbbbbbbbb")) is True
    assert mac_sighting_hits(wl, "aaaaaaaaaaaa", NOW) == []
    assert mac_sighting_hits(wl, "bbbbbbbbbbbb", NOW) == ["W-1"]
    assert len(wl) == 1


def test_clear_forgets_every_entry_and_keeps_the_lists_at_zero() -> None:
    wl = Watchlist()
    wl.upsert(entry("W-1", "device", "mac", "aaaaaaaaaaaa"))
    wl.clear()
    assert len(wl) == 0 and wl.get("W-1") is None
    assert mac_sighting_hits(wl, "aaaaaaaaaaaa", NOW) == []
    assert wl.entries_by_list() == {"l": 0}
    wl.upsert(entry("W-2", "device", "mac", "aaaaaaaaaaaa"))
    assert mac_sighting_hits(wl, "aaaaaaaaaaaa", NOW) == ["W-2"]


def test_expired_entry_stops_matching_at_expires_at() -> None:
    wl = Watchlist()
    wl.upsert(entry("W-1", "device", "mac", "aaaaaaaaaaaa", expires_at=NOW))
    assert mac_sighting_hits(wl, "aaaaaaaaaaaa", NOW - 1) == ["W-1"]
    assert mac_sighting_hits(wl, "aaaaaaaaaaaa", NOW) == []
    assert [e.entry_id for e in wl.expired(NOW)] == ["W-1"]


id_types = st.sampled_from(["mac", "imsi", "etag"])
device_keys = st.sampled_from(["aaaaaaaaaaaa", "AAAAAAAAAAAA", "123456789012345",
                               "E" * 20, "E" * 32])


@settings(deadline=None)
@given(entries=st.lists(st.tuples(id_types, device_keys, st.booleans()), max_size=10),
       sightings=st.lists(st.tuples(id_types, device_keys), max_size=10),
       deletes=st.sets(st.integers(0, 9)), hash_bits=st.sampled_from([1, 64]))
def test_sensing_matching_equals_reference(entries, sightings, deletes, hash_bits) -> None:
    """Same identifier under different id types, long e-tags, expired and deleted entries."""
    wl = Watchlist(hash_bits=hash_bits)
    live = []
    for i, (kind, key, expired) in enumerate(entries):
        e = entry(f"W-{i}", "device", kind, key, expires_at=NOW if expired else NOW + 1)
        wl.upsert(e)
        if i in deletes:
            wl.delete(e.entry_id)
        elif not expired:
            live.append(e)
    batch = SensingBatch(
        ts=np.full(len(sightings), NOW, np.int64),
        id_type=np.array([ID_TYPE_CODES[k] for k, _ in sightings], np.uint8),
        device_id=np.array([d.encode() for _, d in sightings], "S32"),
        rssi=np.zeros(len(sightings), np.int16), sensor_num=np.arange(len(sightings),
                                                                      dtype=np.uint32))
    got = [(h.entry_id, h.location_id) for h in find_sensing_hits(batch, wl, NOW)]
    expected = [(e.entry_id, f"S-{i:06d}") for i, (kind, key) in enumerate(sightings)
                for e in sorted(live, key=lambda e: e.entry_id)
                if (e.kind, e.key) == (kind, key)]
    assert got == expected


def test_sensing_and_checkin_hits_match_on_kind_and_key() -> None:
    wl = Watchlist()
    wl.upsert(entry("W-MAC", "device", "mac", "aaaaaaaaaaaa"))
    wl.upsert(entry("W-DOC", "document", "passport", "E1234567"))
    batch = SensingBatch(
        ts=np.array([NOW, NOW + 1], dtype=np.int64), id_type=np.array([1, 4], dtype=np.uint8),
        device_id=np.array([b"aaaaaaaaaaaa", b"AAAAAAAAAAAA"], dtype="S32"),
        rssi=np.array([-50, -50], dtype=np.int16), sensor_num=np.array([5, 6], dtype=np.uint32),
        sensor_name=None)
    hits = find_sensing_hits(batch, wl, NOW)
    assert [(h.entry_id, h.location_id, h.observed_ts) for h in hits] == [("W-MAC", "S-000005",
                                                                          NOW)]
    checkins = [CheckIn("P-1", NOW, "passport", "E1234567"), CheckIn("P-1", NOW, "other",
                                                                     "E1234567")]
    assert [h.entry_id for h in find_checkin_hits(checkins, wl, NOW)] == ["W-DOC"]


def test_entries_by_list_follows_upserts_moves_and_deletes() -> None:
    wl = Watchlist()
    wl.upsert(entry("W-1", "device", "mac", "aaaaaaaaaaaa"))
    wl.upsert(entry("W-2", "device", "mac", "bbbbbbbbbbbb"))
    wl.upsert(dataclasses.replace(entry("W-2", "device", "mac", "bbbbbbbbbbbb"), list="other"))
    assert wl.entries_by_list() == {"l": 1, "other": 1}
    wl.delete("W-2")
    wl.delete("W-404")
    # An emptied list stays at 0, so its gauge falls to 0 rather than keeping the last value.
    assert wl.entries_by_list() == {"l": 1, "other": 0}


lists = st.sampled_from(["l", "m", "n"])
commands = st.lists(st.one_of(
    st.tuples(st.just("upsert"), st.integers(0, 9), lists, id_types, device_keys,
              st.integers(1, 3), st.sampled_from([NOW - 1, NOW, NOW + 1]), st.integers(0, 7)),
    st.tuples(st.just("delete"), st.integers(0, 9))), max_size=80)


@settings(max_examples=200, deadline=None)
@given(commands=commands, cuts=st.lists(st.integers(0, 80), max_size=6),
       hash_bits=st.sampled_from([1, 64]))
def test_batched_apply_equals_a_plain_dict(commands, cuts, hash_bits) -> None:
    """Upserts, deletes and re-upserts across lists, applied in batches cut anywhere, leave
    the same entries, list counts, partitions, expiries and hits as a dict applying them one
    by one."""
    wl, ref = Watchlist(hash_bits=hash_bits), {}
    batch, batches = [], []
    for i, c in enumerate(commands):
        if c[0] == "upsert":
            _, n, list_name, kind, key, priority, expires, partition = c
            e = dataclasses.replace(entry(f"W-{n}", "device", kind, key, expires_at=expires),
                                    list=list_name, priority=priority)
            batch.append((e, partition))
            ref[e.entry_id] = (e, partition)
        else:
            batch.append((Gone(f"W-{c[1]}"), 0))
            ref.pop(f"W-{c[1]}", None)
        if i in cuts:
            batches.append(batch)
            batch = []
    for b in [*batches, batch]:
        wl.apply([c for c, _ in b], [p for _, p in b])
    assert len(wl) == len(ref)
    counts = {name: sum(e.list == name for e, _ in ref.values())
              for name in {e.list for e, _ in (c for b in [*batches, batch] for c in b)
                           if isinstance(e, WatchlistEntry)}}
    assert wl.entries_by_list() == counts
    for entry_id, (e, partition) in ref.items():
        view = wl.get(entry_id)
        assert (view.list, view.kind, view.priority, view.expires_at, view.partition) == (
            e.list, e.kind, e.priority, e.expires_at, partition)
    assert sorted(v.entry_id for v in wl.expired(NOW)) == sorted(
        i for i, (e, _) in ref.items() if e.expires_at <= NOW)
    for kind in ("mac", "imsi", "etag"):
        for key in ("aaaaaaaaaaaa", "AAAAAAAAAAAA", "123456789012345", "E" * 20, "E" * 32):
            batch_ = SensingBatch(
                ts=np.array([NOW], np.int64), id_type=np.array([ID_TYPE_CODES[kind]], np.uint8),
                device_id=np.array([key.encode()], "S32"), rssi=np.zeros(1, np.int16),
                sensor_num=np.zeros(1, np.uint32))
            got = [h.entry_id for h in find_sensing_hits(batch_, wl, NOW)]
            assert got == sorted(i for i, (e, _) in ref.items()
                                 if (e.kind, e.key) == (kind, key) and e.expires_at > NOW)


def test_the_watchlist_holds_no_identifier() -> None:
    """A planted key, as written and normalised, is nowhere in the watchlist's arrays."""
    wl = Watchlist()
    wl.upsert(entry("W-MAC", "device", "mac", "a45e60d1229f"))
    wl.upsert(entry("W-PLATE", "plate", "", "鲁K1Z345", match="ocr-tolerant"))
    wl.upsert(entry("W-DOC", "document", "passport", "E12345678901234567"))
    arrays, _ = wl.index.snapshot()
    held = b"".join(a.tobytes() for a in arrays.values())
    for key in ("a45e60d1229f", "A4:5E:60:D1:22:9F", "A45E60D1229F", "鲁K1Z345", "鲁K12345",
                "E12345678901234567"):
        raw = key.encode()
        # Every 6-byte window: shorter ones turn up by chance among the hashes' bytes.
        assert all(raw[i:i + 6] not in held for i in range(len(raw) - 5))
    assert b"W-PLATE" in held  # ids are held, so the search can find what is there
