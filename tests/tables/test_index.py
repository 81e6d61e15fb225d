"""WatchlistIndex (numba) against the plain-Python twins in tables/reference.py."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
from hypothesis import given, settings

from loadtest.micro.index_bench import random_macs
from tables.checkpoint import read_checkpoint, write_checkpoint
from tables.index import WatchlistIndex, key_words
from tables.index_arrays import RestoreBuffers
from tables.keyhash import hash_keys
from tables.reference import ReferenceIndex, siphash24, slot_hash, split_secret

NOW = 1_795_000_000_000


def test_siphash_twin_matches_the_papers_test_vector() -> None:
    k0, k1 = split_secret(bytes(range(16)))
    assert siphash24(k0, k1, bytes(range(15))) == 0xA129CA6149BE45E5


@given(st.binary(min_size=1, max_size=40).filter(lambda b: b"\0" not in b),
       st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 255),
       st.integers(1, 64))
def test_kernel_hash_equals_the_twin(key: bytes, k0: int, k1: int, space: int, bits: int) -> None:
    out = np.empty(1, np.uint64)
    hash_keys(np.uint64(k0), np.uint64(k1), np.uint64((1 << bits) - 1),
              np.array([space], np.uint8), key_words([key]), out)
    assert int(out[0]) == slot_hash(k0, k1, bits, space, key)


# Few distinct keys and spaces, so that entries share keys and probes hit often.
keys = st.sampled_from([b"a", b"b", b"a45e60d1229f", b"123456789012345", b"\xe9\xb2\x81K12345",
                        b"X" * 17, b"X" * 24, b"Y" * 33])
ops = st.lists(st.tuples(st.sampled_from(["upsert", "delete"]), st.integers(0, 11),
                         st.integers(1, 3), keys, st.sampled_from([NOW - 1, NOW, NOW + 1])),
               max_size=60)


@settings(max_examples=300, deadline=None)
@given(ops=ops, probes=st.lists(st.tuples(st.integers(1, 3), keys), max_size=30),
       bits=st.sampled_from([1, 3, 64]), width=st.sampled_from([None, 5]))
def test_index_matches_like_the_reference(ops, probes, bits, width) -> None:
    """Random upserts and deletes (expired ones included) then a batch of probes; a tiny
    hash width makes every key collide, so only confirmation separates them. Batches as
    narrow as their longest key take the one-line path; wider ones mix it with the walk."""
    index, ref = WatchlistIndex(b"secret", hash_bits=bits), ReferenceIndex()
    for op, n, space, key, expires in ops:
        entry_id = f"W-{n}"
        if op == "upsert":
            index.upsert(entry_id, space, key, expires)
            ref.upsert(entry_id, space, key, expires)
        else:
            assert index.delete(entry_id) == (entry_id in ref._entries)
            ref.delete(entry_id)
    spaces = np.array([s for s, _ in probes], np.uint8)
    rows, slots = index.match(spaces, key_words([k for _, k in probes], width=width), NOW)
    got = sorted((int(r), index.entry_id(int(s))) for r, s in zip(rows, slots, strict=True))
    assert got == ref.match(probes, NOW)
    assert len(index) == len(ref._entries)


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 59)), min_size=20, max_size=200),
       bits=st.sampled_from([1, 2, 3]))
def test_crowded_lines_keep_every_entry_findable(ops, bits) -> None:
    """A hash of a few bits crowds up to 60 entries into 1 to 7 neighbouring table lines, so
    entries overflow past full lines and a deletion must move later ones back: after every
    upsert or delete, each entry is still found, and no deleted one is."""
    index, ref = WatchlistIndex(b"secret", hash_bits=bits), ReferenceIndex()
    probes = [(1, f"k{n}".encode()) for n in range(60)]
    probe_words = key_words([k for _, k in probes])
    for upsert, n in ops:
        if upsert:
            index.upsert(f"W-{n}", 1, f"k{n}".encode(), NOW + 1)
            ref.upsert(f"W-{n}", 1, f"k{n}".encode(), NOW + 1)
        else:
            assert index.delete(f"W-{n}") == (f"W-{n}" in ref._entries)
            ref.delete(f"W-{n}")
        rows, slots = index.match(np.ones(len(probes), np.uint8), probe_words, NOW)
        got = sorted((int(r), index.entry_id(int(s))) for r, s in zip(rows, slots, strict=True))
        assert got == ref.match(probes, NOW)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3000), seed=st.integers(0, 2**32 - 1))
def test_bulk_build_then_updates_match_the_reference(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys_ = [bytes(k) for k in random_macs(rng, n)]
    ids = [f"W-{i}" for i in range(n)]
    index, ref = WatchlistIndex(b"s"), ReferenceIndex()
    index.build(ids, np.ones(n, np.uint8), key_words(keys_, width=2),
                np.full(n, NOW + 1, np.int64))
    for entry_id, k in zip(ids, keys_, strict=True):
        ref.upsert(entry_id, 1, k, NOW + 1)
    for i in range(0, n, 3):  # delete a third, move another third to longer keys
        index.delete(ids[i])
        ref.delete(ids[i])
    for i in range(1, n, 3):
        index.upsert(ids[i], 1, keys_[i] * 2, NOW + 1)
        ref.upsert(ids[i], 1, keys_[i] * 2, NOW + 1)
    probes = [(1, k) for k in keys_] + [(1, k * 2) for k in keys_[:50]]
    rows, slots = index.match(np.ones(len(probes), np.uint8),
                              key_words([k for _, k in probes]), NOW)
    got = sorted((int(r), index.entry_id(int(s))) for r, s in zip(rows, slots, strict=True))
    assert got == ref.match(probes, NOW)


def test_expired_lists_due_entries_only() -> None:
    index = WatchlistIndex(b"s")
    index.upsert("W-1", 1, b"a", NOW)
    index.upsert("W-2", 1, b"b", NOW + 10)
    assert list(index.expired(NOW - 1)) == []
    assert [index.entry_id(s) for s in index.expired(NOW)] == ["W-1"]
    index.delete("W-1")
    assert [index.entry_id(s) for s in index.expired(NOW + 10)] == ["W-2"]


def test_index_holds_no_raw_identifier() -> None:
    """No array of the index holds a key, raw or as its words: only hashes of it."""
    index = WatchlistIndex(b"s")
    keys = [b"a45e60d1229f", b"A4:5E:60:D1:22:9F", b"\xe9\xb2\x81K12345", b"X" * 40]
    for i, key in enumerate(keys):
        index.upsert(f"W-{i}", 1, key, NOW + 1)
    arrays, _ = index.snapshot()
    held = b"".join(a.tobytes() for a in arrays.values())
    for key in keys:
        # Every 6-byte window: shorter ones turn up by chance among the hashes' bytes.
        assert all(key[i:i + 6] not in held for i in range(len(key) - 5))
    assert b"W-1" in held  # the check can fail: entry ids are held


def test_a_checkpoint_read_into_restore_buffers_is_taken_over_without_a_copy(tmp_path) -> None:
    index, ref = WatchlistIndex(b"s"), ReferenceIndex()
    for i in range(3000):
        index.upsert(f"W-{i}", 1, f"k{i}".encode(), NOW + 1)
        ref.upsert(f"W-{i}", 1, f"k{i}".encode(), NOW + 1)
    for i in range(0, 3000, 7):
        index.delete(f"W-{i}")
        ref.delete(f"W-{i}")
    arrays, counters = index.snapshot()
    write_checkpoint(tmp_path, {"counters": counters}, arrays)
    buffers = RestoreBuffers()
    header, _ = read_checkpoint(tmp_path, {}, buffers.allocate)
    again = WatchlistIndex(b"s")
    again.restore(buffers.arrays, header["counters"])
    assert again._meta is buffers.arrays["meta"] and again._table is buffers.arrays["table"]
    assert len(again._meta) > counters["next"]  # room to grow
    probes = [(1, f"k{i}".encode()) for i in range(0, 3100, 3)]
    rows, slots = again.match(np.ones(len(probes), np.uint8),
                              key_words([k for _, k in probes]), NOW)
    got = sorted((int(r), again.entry_id(int(s))) for r, s in zip(rows, slots, strict=True))
    assert got == ref.match(probes, NOW)
    again.upsert("W-NEW", 1, b"new", NOW + 1)  # the restored arrays take more entries
    assert again.delete("W-1") and len(again) == len(ref._entries)


def _index_with(n: int, garbage: int = 0) -> tuple[WatchlistIndex, ReferenceIndex, list[bytes]]:
    """An index of n entries (and `garbage` ids written and deleted, for the arena), with
    its reference."""
    index, ref = WatchlistIndex(b"s"), ReferenceIndex()
    keys_ = [f"k{i}".encode() for i in range(n)]
    for i in range(garbage):
        index.upsert(f"gone-{i:06d}", 1, b"g", NOW + 1)
        index.delete(f"gone-{i:06d}")
    for i, k in enumerate(keys_):
        index.upsert(f"W-{i}", 1, k, NOW + 1)
        ref.upsert(f"W-{i}", 1, k, NOW + 1)
    return index, ref, keys_


def _matched(index: WatchlistIndex, keys_: list[bytes]) -> list[tuple[int, str]]:
    rows, slots = index.match(np.ones(len(keys_), np.uint8), key_words(keys_), NOW)
    return sorted((int(r), index.entry_id(int(s))) for r, s in zip(rows, slots, strict=True))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 1500), more=st.integers(1, 3000), id_bytes=st.integers(0, 40_000),
       garbage=st.integers(0, 400))
def test_room_grown_aside_leaves_the_index_as_it_was_and_then_serves_like_growing_in_place(
        n: int, more: int, id_bytes: int, garbage: int) -> None:
    """`grown` builds every array that must grow while the index stays as it is (what
    matching reads meanwhile); once adopted, the index finds what it found and takes the
    upserts it was grown for without growing again."""
    index, ref, keys_ = _index_with(n, garbage)
    before = {name: getattr(index, f"_{name}").copy() for name in ("table", "meta", "aux",
              "id_ref", "free", "id_arena", "ids", "state")}
    growing = index.growing(more, id_bytes)
    room = index.grown(more, id_bytes)
    for name, array in before.items():
        assert np.array_equal(getattr(index, f"_{name}"), array), name
    assert _matched(index, keys_) == ref.match([(1, k) for k in keys_], NOW)
    if room is None:
        assert not growing
        return
    # A compacted arena comes with its rewritten id refs.
    assert set(room.arrays) - {"id_ref"} == growing - {"id_ref"}
    assert index.adopt(room)
    assert not index.growing(more, id_bytes)
    assert _matched(index, keys_) == ref.match([(1, k) for k in keys_], NOW)
    sizes = {name: len(getattr(index, f"_{name}")) for name in ("table", "meta", "ids")}
    new_keys = [f"n{i}".encode() for i in range(more)]
    for i, k in enumerate(new_keys):
        index.upsert(f"N-{i}", 1, k, NOW + 1)
        ref.upsert(f"N-{i}", 1, k, NOW + 1)
    if id_bytes >= sum(len(f"N-{i}") for i in range(more)):
        assert {name: len(getattr(index, f"_{name}")) for name in sizes} == sizes
    every = keys_ + new_keys
    assert _matched(index, every) == ref.match([(1, k) for k in every], NOW)
    assert len(index) == len(ref._entries)


def test_room_grown_before_a_write_is_not_adopted() -> None:
    index, ref, keys_ = _index_with(600)
    room = index.grown(2000, 100)
    assert room is not None
    index.upsert("late", 1, b"late", NOW + 1)
    ref.upsert("late", 1, b"late", NOW + 1)
    table = index._table
    assert not index.adopt(room)
    assert index._table is table
    every = [*keys_, b"late"]
    assert _matched(index, every) == ref.match([(1, k) for k in every], NOW)
