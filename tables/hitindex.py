"""Where hits are on `vigil.hits`: the newest hit ids and their positions, 16 bytes each.

Why an index and not a search of the topic: `vigil.hits` is keyed by entry id, and a hit id
is a one-way hash of (entry, source, location, observed time), so an id alone says
neither the partition nor the time of its hit. Finding a hit by scanning would read up to
every partition's tail for each request, and for an id that does not exist (a typo, or a
token probing) always the whole bounded tail. Each worker already reads every hit as it is
written (web/hitstream.py), so it notes each one's position here instead: a lookup is one
vectorised compare over the ring, an unknown id costs no broker traffic at all, and a
known one costs a single fetch at its offset.

A hit id is "h-" and 16 hex digits (schemas/hits.py), so the ring holds it as a uint64;
anything else is no hit id and is never found. Positions are (partition, offset). The
ring keeps the last `capacity` hits noted; older ones are forgotten, oldest first.
"""

from __future__ import annotations

import re

import numpy as np

_HIT_ID = re.compile(r"h-([0-9a-f]{16})", re.ASCII)
# Offsets stay below 2**47 (a partition written at a million records a second for four
# years), so a position packs into one int64 with the partition above them.
OFFSET_BITS = 47


def hit_id_number(hit_id: str) -> int | None:
    """Return the 64-bit number of a hit id, or None if `hit_id` is not one."""
    m = _HIT_ID.fullmatch(hit_id)
    return int(m[1], 16) if m else None


class HitIndex:
    """A ring of the positions of the last `capacity` hits noted."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids = np.zeros(capacity, dtype=np.uint64)
        self._positions = np.full(capacity, -1, dtype=np.int64)
        self._next = 0  # the slot the next hit goes to
        self.size = 0

    def note(self, hit_id: str, partition: int, offset: int) -> None:
        """Remember that `hit_id` is at (`partition`, `offset`)."""
        number = hit_id_number(hit_id)
        if number is None or self.capacity == 0:
            return
        self._ids[self._next] = number
        self._positions[self._next] = (partition << OFFSET_BITS) | offset
        self._next = (self._next + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def find(self, hit_id: str) -> tuple[int, int] | None:
        """Return the (partition, offset) of `hit_id`, the newest if noted twice (a replay
        after a crash writes a hit again), or None."""
        number = hit_id_number(hit_id)
        if number is None or self.size == 0:
            return None
        slots = np.flatnonzero(self._ids[:self.size] == np.uint64(number))
        if slots.size == 0:
            return None
        # The newest is the last slot written before `_next`, going round the ring.
        newest = int(slots[np.argmax((slots - self._next) % self.capacity)])
        position = int(self._positions[newest])
        return position >> OFFSET_BITS, position & ((1 << OFFSET_BITS) - 1)

    @property
    def nbytes(self) -> int:
        """Return the memory the ring holds."""
        return self._ids.nbytes + self._positions.nbytes
