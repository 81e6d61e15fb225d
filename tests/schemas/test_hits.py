"""Hits: deterministic ids, and a JSON shape that is the contract's."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from schemas.hits import Hit, decode_hit, encode_hit, make_hit_id
from schemas.json import loads

SETTINGS = settings(max_examples=200, deadline=None, database=None)
CONTRACT_EXAMPLE = """{"hit_id": "h-5f1c0e8a9b7d2c44", "entry_id": "W-2026-000017",
 "list": "stolen-vehicles", "priority": 2, "source": "plate", "location_id": "C-0042",
 "observed_ts": 1795000000456, "detected_ts": 1795000000511, "match": "ocr-tolerant",
 "observed": {"plate": "鲁K1Z345"}}""".encode()

identities = st.tuples(
    st.text(max_size=20),
    st.sampled_from(["sensing", "plate", "checkin"]),
    st.text(max_size=20),
    st.integers(0, 2**53),
)


@SETTINGS
@given(identities)
def test_hit_id_is_a_pure_function(identity: tuple[str, str, str, int]) -> None:
    hit_id = make_hit_id(*identity)
    assert re.fullmatch(r"h-[0-9a-f]{16}", hit_id)
    assert make_hit_id(*identity) == hit_id


@SETTINGS
@given(identities, identities)
def test_hit_id_differs_when_any_field_differs(
    a: tuple[str, str, str, int], b: tuple[str, str, str, int]
) -> None:
    assume(a != b)
    assert make_hit_id(*a) != make_hit_id(*b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("ab", "plate", "c", 1), ("a", "plate", "bc", 1)),
        (("W\x1fplate", "plate", "C", 1), ("W", "plate\x1fplate", "C", 1)),
        (("W", "plate", "C1", 23), ("W", "plate", "C", 123)),
    ],
)
def test_hit_id_has_no_concatenation_collisions(
    a: tuple[str, str, str, int], b: tuple[str, str, str, int]
) -> None:
    assert make_hit_id(*a) != make_hit_id(*b)


def test_hit_id_is_stable_across_releases() -> None:
    # Pinned: changing the hash scheme would break subscribers' de-duplication on upgrade.
    assert make_hit_id("W-2026-000017", "plate", "C-0042", 1795000000456) == "h-676252df844198c2"


hits = st.builds(
    Hit,
    hit_id=st.text(max_size=20),
    entry_id=st.text(max_size=20),
    list=st.text(max_size=20),
    priority=st.integers(1, 3),
    source=st.sampled_from(["sensing", "plate", "checkin"]),
    location_id=st.text(max_size=20),
    observed_ts=st.integers(0, 2**53),
    detected_ts=st.integers(0, 2**53),
    match=st.sampled_from(["exact", "ocr-tolerant"]),
    observed=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3),
)


@SETTINGS
@given(hits)
def test_hit_round_trips(hit: Hit) -> None:
    assert decode_hit(encode_hit(hit)) == hit


def test_contract_example_has_our_shape() -> None:
    hit = decode_hit(CONTRACT_EXAMPLE)
    assert loads(encode_hit(hit)) == loads(CONTRACT_EXAMPLE)
    assert hit.observed == {"plate": "鲁K1Z345"}


@pytest.mark.parametrize("data", [b"{}", b"[]", b"nope", b'{"hit_id": "h-0"}'])
def test_decode_hit_refuses_non_hits(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_hit(data)
