"""The location directory against its plain-Python twin, after any series of commands."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.locations import LocationUpsert
from tables import locations as directory_module
from tables.locations import NO_LOCATION, LocationDirectory, in_any_area
from tables.locations_reference import ReferenceDirectory

SETTINGS = settings(max_examples=150, deadline=None, database=None)
IDS = [f"S-{i:06d}" for i in range(12)]
AREAS = [f"area-{i}" for i in range(10)]

commands = st.lists(st.one_of(
    st.builds(lambda loc, areas: LocationUpsert(loc, "sensor", tuple(areas)),
              st.sampled_from(IDS), st.lists(st.sampled_from(AREAS), max_size=6, unique=True)),
    st.sampled_from(IDS)), max_size=60)  # a bare id is a delete


def apply(commands: list, *targets: object) -> None:
    for command in commands:
        for target in targets:
            if isinstance(command, LocationUpsert):
                target.upsert(command)
            else:
                target.delete(command)


def check_agrees(directory: LocationDirectory, reference: ReferenceDirectory,
                 probes: list[str], wanted: list[list[str]]) -> None:
    assert len(directory) == len(reference.areas)
    assert directory.areas_known == reference.areas_known()
    for location_id in IDS:
        assert directory.areas_of(location_id) == reference.areas.get(location_id)
    codes = directory.location_codes(probes)
    assert codes.dtype == np.uint32
    assert [c == NO_LOCATION for c in codes] == [p not in reference.areas for p in probes]
    offsets = np.cumsum([0] + [len(w) for w in wanted])
    want = directory.intern_areas(a for w in wanted for a in w)
    got = in_any_area(directory.membership(), codes, offsets, want)
    assert got.tolist() == reference.in_any_area(probes, wanted)


@SETTINGS
@given(commands, st.lists(st.tuples(st.sampled_from([*IDS, "unknown"]),
                                    st.lists(st.sampled_from([*AREAS, "nowhere"]), max_size=4)),
                          max_size=30))
def test_the_directory_agrees_with_its_reference(commands: list, probes: list) -> None:
    directory, reference = LocationDirectory(), ReferenceDirectory()
    apply(commands, directory, reference)
    check_agrees(directory, reference, [p for p, _ in probes], [w for _, w in probes])


@SETTINGS
@given(commands)
def test_compaction_keeps_every_row(series: list) -> None:
    # A tiny threshold, so that the rows are moved many times in one series.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(directory_module, "_COMPACT_MIN_CELLS", 1)
        directory, reference = LocationDirectory(), ReferenceDirectory()
        apply(series, directory, reference)
    probes = IDS * len(AREAS)
    wanted = [[a] for a in AREAS for _ in IDS]
    check_agrees(directory, reference, probes, wanted)


def test_an_area_named_before_any_location_joins_it_starts_matching_when_one_does() -> None:
    directory = LocationDirectory()
    scope = directory.intern_areas(["old-town"])
    codes = directory.location_codes(["C-1"])
    assert not in_any_area(directory.membership(), codes, [0, 1], scope)[0]
    directory.upsert(LocationUpsert("C-1", "camera", ("old-town",)))
    codes = directory.location_codes(["C-1"])
    assert in_any_area(directory.membership(), codes, [0, 1], scope)[0]
    directory.upsert(LocationUpsert("C-1", "camera", ("ring-road",)))  # moved away
    assert not in_any_area(directory.membership(), codes, [0, 1], scope)[0]


def test_growth_past_the_first_arrays_keeps_every_location() -> None:
    directory, reference = LocationDirectory(), ReferenceDirectory()
    many = [LocationUpsert(f"P-{i}", "property", (f"a{i % 300}", f"b{i % 7}"))
            for i in range(5000)]
    apply(many, directory, reference)
    apply([f"P-{i}" for i in range(0, 5000, 3)], directory, reference)
    probes = [f"P-{i}" for i in range(0, 5000, 7)]
    wanted = [[f"a{i % 300}"] for i in range(0, 5000, 7)]
    got = in_any_area(directory.membership(), directory.location_codes(probes),
                      np.arange(len(probes) + 1), directory.intern_areas(w[0] for w in wanted))
    assert got.tolist() == reference.in_any_area(probes, wanted)
    assert len(directory) == len(reference.areas)


def test_offsets_must_fit_the_codes() -> None:
    directory = LocationDirectory()
    with pytest.raises(ValueError, match="want_offsets"):
        in_any_area(directory.membership(), np.zeros(3, np.uint32), np.zeros(3), np.zeros(0))


def test_clear_forgets_every_location_but_keeps_area_codes() -> None:
    directory = LocationDirectory()
    code = directory.intern_areas(["x"])[0]
    directory.upsert(LocationUpsert("C-1", "camera", ("x",)))
    directory.clear()
    assert len(directory) == 0 and directory.areas_known == 0
    assert directory.intern_areas(["x"])[0] == code


def test_the_kernel_is_compiled_unless_the_jit_is_off() -> None:
    """Guards the parity tests: with the JIT on they must compare numba with Python."""
    directory = LocationDirectory()
    in_any_area(directory.membership(), np.zeros(1, np.uint32), [0, 0], np.zeros(0))
    kernel = directory_module._in_any_area
    assert os.environ.get("NUMBA_DISABLE_JIT") == "1" or kernel.signatures
