"""The compiled default partitioner against aiokafka's pure-Python one (its twin)."""

from __future__ import annotations

import os

import hypothesis.strategies as st
import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given

from streams.partitioning import _murmur2_partitions, default_partitions


def reference(keys: list[bytes], partition_count: int) -> list[int]:
    partitions = list(range(partition_count))
    return [DefaultPartitioner()(k, partitions, partitions) for k in keys]


@given(st.lists(st.binary(max_size=40)), st.integers(1, 1000))
def test_keys_go_where_kafkas_partitioner_puts_them(keys: list[bytes], count: int) -> None:
    assert default_partitions(keys, count).tolist() == reference(keys, count)


def test_every_tail_length_and_high_bytes_are_hashed_like_the_java_client() -> None:
    keys = [b"", b"a", b"ab", b"abc", b"abcd", b"W-2026-000017", "鲁K12345".encode(),
            bytes(range(256)), b"\xff" * 7]
    assert default_partitions(keys, 97).tolist() == reference(keys, 97)


def test_no_partitions_is_refused() -> None:
    with pytest.raises(ValueError):
        default_partitions([b"k"], 0)


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="JIT disabled")
def test_the_kernel_is_compiled() -> None:
    # Otherwise the parity tests compare the Python twin with Python.
    assert _murmur2_partitions.signatures
