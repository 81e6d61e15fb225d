"""The input streams: one declarative entry per kind of observation.

Everything that depends on which streams exist reads `INPUT_STREAMS`: topic names and
creation, the worker's agents and consumer lag, metrics labels, `vigil produce`, and the
load-test traffic, record and replay. Adding a stream is one entry here, its decoder
(schemas/), its matcher (tables/matching.py), a `topics.<name>_partitions` setting (a test
checks it exists) and their tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.checkins import decode_checkins
from schemas.hits import Hit
from schemas.plates import decode_plate_reads
from schemas.rejection import Rejected
from schemas.sensing import MAGIC, SENSING_CONTENT_TYPE, decode_sensing, encode_sensing_batch
from tables.matching import find_checkin_hits, find_plate_hits, find_sensing_hits
from tables.watchlist import Watchlist

# (message value, its content-type header or None) -> (decoded records, rejections)
Decoder = Callable[[bytes, "str | None"], tuple[Any, list[Rejected]]]
# (decoded records, watchlist, now in epoch ms) -> hits
HitFinder = Callable[[Any, Watchlist, int], list[Hit]]


@dataclass(frozen=True)
class BinaryFormat:
    """A stream's packed batch format besides JSON: its content type, the magic bytes its
    messages start with (a message without the header is recognised by them), its encoder."""

    content_type: str
    magic: bytes
    encode: Callable[[list[dict]], bytes]

    def is_binary(self, value: bytes, content_type: str | None) -> bool:
        """Return whether a message is in this format rather than JSON."""
        return content_type == self.content_type or value.startswith(self.magic)


@dataclass(frozen=True)
class InputStream:
    """One kind of observation: where it arrives, how it is decoded and matched."""

    # Short topic name (`vigil.<name>`), as the CLI takes it.
    name: str
    # The hit's `source` (contract) and the `source` label of the worker's metrics.
    source: str
    # The record field that becomes the Kafka message key (the contract's "key" column).
    key_field: str
    decode: Decoder
    find_hits: HitFinder
    binary: BinaryFormat | None = None

    @property
    def contract_topic(self) -> str:
        """The contract's topic name, before a deployment's prefix."""
        return f"vigil.{self.name}"

    def message_format(self, value: bytes, content_type: str | None) -> str:
        """Return the `format` metrics label of one message of this stream."""
        return "binary" if self.binary and self.binary.is_binary(value, content_type) else "json"

    @property
    def formats(self) -> tuple[str, ...]:
        """The message formats this stream accepts (the `format` metrics label)."""
        return ("binary", "json") if self.binary else ("json",)


INPUT_STREAMS: tuple[InputStream, ...] = (
    InputStream("sensing", "sensing", "sensor_id", decode_sensing, find_sensing_hits,
                BinaryFormat(SENSING_CONTENT_TYPE, MAGIC, encode_sensing_batch)),
    InputStream("plates", "plate", "camera_id", lambda v, _ct: decode_plate_reads(v),
                find_plate_hits),
    InputStream("checkins", "checkin", "property_id", lambda v, _ct: decode_checkins(v),
                find_checkin_hits),
)


def input_stream(name: str) -> InputStream:
    """Return the input stream of short topic name `name`; KeyError when there is none."""
    for stream in INPUT_STREAMS:
        if stream.name == name:
            return stream
    raise KeyError(name)
