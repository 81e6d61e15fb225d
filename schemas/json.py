"""The one place Vigil touches orjson, so options and error types never drift apart."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def loads(data: bytes | str) -> Any:
    """Parse UTF-8 JSON; raise JSONDecodeError (a ValueError) on anything else."""
    return orjson.loads(data)


def loads_each(values: Iterable[bytes | str]) -> list[Any]:
    """Parse every value (without a Python call per value); raise JSONDecodeError at the
    first that is not JSON."""
    return list(map(orjson.loads, values))


def dumps(obj: Any) -> bytes:
    """Serialise obj to compact UTF-8 JSON bytes."""
    return orjson.dumps(obj)
