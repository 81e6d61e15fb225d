"""Server-Sent Events as Vigil uses them: frames, resumable event ids, and a client parser.

An event id is the reader's position in `vigil.hits` just after the event: the next offset
of every partition, as "partition:offset" pairs joined by commas ("0:17,1:4,2:0,3:9").
Resuming from it reads each partition from that offset, so nothing is skipped or repeated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

Position = dict[int, int]


def encode_position(position: Position) -> str:
    """Return the event id of a position."""
    return ",".join(f"{p}:{o}" for p, o in sorted(position.items()))


# At most this many partitions in an event id, and 19 ASCII digits per number (an int64).
MAX_PARTITIONS = 1024
MAX_NUMBER = 2**63 - 1
_PAIR = re.compile(r"([0-9]{1,19}):([0-9]{1,19})", re.ASCII)
MAX_EVENT_ID_CHARS = MAX_PARTITIONS * 40


class BadEventId(ValueError):
    """Not an event id of the hit stream; the message is fixed and echoes nothing."""

    def __init__(self) -> None:
        super().__init__("not a hit stream event id")


def decode_position(event_id: str) -> Position:
    """Parse an event id; raise BadEventId if it is not one: pairs of ASCII digits
    (at most 19 each, within int64), at most MAX_PARTITIONS of them, no partition twice."""
    if len(event_id) > MAX_EVENT_ID_CHARS:
        raise BadEventId
    pairs = event_id.split(",")
    if len(pairs) > MAX_PARTITIONS:
        raise BadEventId
    position: Position = {}
    for pair in pairs:
        m = _PAIR.fullmatch(pair)
        if m is None:
            raise BadEventId
        p, o = int(m[1]), int(m[2])
        if p in position or p > MAX_NUMBER or o > MAX_NUMBER:
            raise BadEventId
        position[p] = o
    return position


def frame(event: str, data: bytes, event_id: str | None = None) -> bytes:
    """Return one SSE frame; `data` must be a single line (compact JSON is)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\n".encode() + b"data: " + data + b"\n\n"


@dataclass(frozen=True)
class Event:
    """One event received from an SSE stream."""

    event: str
    data: str
    id: str | None


def parse_events(lines: Iterable[str]) -> Iterator[Event]:
    """Yield the events of an SSE stream given line by line (comments skipped)."""
    name, data, event_id = "message", [], None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield Event(name, "\n".join(data), event_id)
            name, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
