"""The recording file: the messages of the input topics, with their timestamps, in the order
they were read.

Layout (little-endian): the 8-byte magic `VGLREC01`, then one frame per message:
topic code uint8 (index in RECORDED_TOPICS), partition int32, Kafka timestamp int64 ms,
record count uint32, key length int32 (-1: no key), value length int32 (-1: tombstone),
header count uint16; then the key, the value, and per header a uint16 name length, the
UTF-8 name, a uint32 value length and the value. 25 bytes of framing per message, and
the value is kept byte for byte, so a binary batch of 1,000 sightings costs 32,037 bytes.
The record count lets replay report records/s without decoding anything.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from schemas.json import JSONDecodeError, loads
from schemas.sensing import HEADER_BYTES, MAGIC
from tables.inputs import INPUT_STREAMS

FILE_MAGIC = b"VGLREC01"
# A recording stores each message's topic as its index here, so recordings made before a
# stream was added read back only while the watchlist keeps its index (add new streams'
# codes after it, or record again).
RECORDED_TOPICS = (*(s.name for s in INPUT_STREAMS), "watchlist")
_FRAME = struct.Struct("<BiqIiiH")
_NAME_LEN = struct.Struct("<H")
_VALUE_LEN = struct.Struct("<I")


class RecordingError(ValueError):
    """The file is not a recording, or it is cut short."""


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One message as it was on an input topic (`topic` is the short name: `sensing`)."""

    topic: str
    partition: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    records: int

    def encode(self) -> bytes:
        """Return the frame of this message."""
        key, value = self.key, self.value
        parts = [_FRAME.pack(RECORDED_TOPICS.index(self.topic), self.partition,
                             self.timestamp_ms, self.records,
                             -1 if key is None else len(key), -1 if value is None else len(value),
                             len(self.headers)), key or b"", value or b""]
        for name, data in self.headers:
            encoded = name.encode()
            parts += [_NAME_LEN.pack(len(encoded)), encoded, _VALUE_LEN.pack(len(data)), data]
        return b"".join(parts)


def count_records(topic: str, value: bytes | None) -> int:
    """Return how many records a message holds: a binary batch's count, a JSON array's
    length, else 1 (a bad message is one bad record)."""
    if not value:
        return 1
    if topic == "sensing" and value[:8] == MAGIC and len(value) >= HEADER_BYTES:
        return int.from_bytes(value[8:HEADER_BYTES], "little")
    if value[:1] == b"[":
        try:
            doc = loads(value)
        except JSONDecodeError:
            return 1
        return len(doc) if isinstance(doc, list) else 1
    return 1


class RecordingWriter:
    """Append messages to a new recording file."""

    def __init__(self, path: str | Path) -> None:
        # Held open across write() calls; closed by close() or the with-block.
        self._file: BinaryIO = Path(path).open("wb")  # noqa: SIM115
        self._file.write(FILE_MAGIC)
        self.messages = 0
        self.records = 0

    def write(self, message: RecordedMessage) -> None:
        """Append one message."""
        self._file.write(message.encode())
        self.messages += 1
        self.records += message.records

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise RecordingError(f"recording cut short: wanted {n} bytes, found {len(data)}")
    return data


def read_recording(path: str | Path) -> Iterator[RecordedMessage]:
    """Yield the messages of a recording in the order they were written."""
    with Path(path).open("rb") as f:
        if f.read(len(FILE_MAGIC)) != FILE_MAGIC:
            raise RecordingError(f"{path}: not a Vigil recording (no {FILE_MAGIC!r} magic)")
        while head := f.read(_FRAME.size):
            if len(head) != _FRAME.size:
                raise RecordingError("recording cut short inside a frame header")
            code, partition, ts, records, key_len, value_len, n_headers = _FRAME.unpack(head)
            if code >= len(RECORDED_TOPICS):
                raise RecordingError(f"unknown topic code {code}")
            key = None if key_len < 0 else _read_exact(f, key_len)
            value = None if value_len < 0 else _read_exact(f, value_len)
            headers = []
            for _ in range(n_headers):
                (name_len,) = _NAME_LEN.unpack(_read_exact(f, _NAME_LEN.size))
                name = _read_exact(f, name_len).decode()
                (data_len,) = _VALUE_LEN.unpack(_read_exact(f, _VALUE_LEN.size))
                headers.append((name, _read_exact(f, data_len)))
            yield RecordedMessage(RECORDED_TOPICS[code], partition, ts, key, value,
                                  tuple(headers), records)

