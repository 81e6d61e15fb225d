"""The old path of `loadtest.bench.index_bench`, kept only because tests/tables/test_index.py
imports `random_macs` from here. Delete this file once that test imports
`loadtest.bench.index_bench`."""

from loadtest.bench.index_bench import random_macs

__all__ = ["random_macs"]
