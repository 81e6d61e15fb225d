"""The disposition in force per hit, as one worker knows it, in bounded memory.

Every worker reads all of `vigil.dispositions` (compacted, key hit_id) and applies each
record in topic order, so the last one read for a hit is the one in force. The newest
`capacity` dispositions used are kept whole; of older ones only their position (partition,
offset) is kept, about 100 bytes each, and the caller fetches the record again when asked
(dispositions are made by people, a few thousand a day, so the positions stay small).

A worker that records a disposition also sets it here at once, with the position the broker
acked, before its own reader reads it back (`apply`), so a GET right after the POST shows
it. Positions decide, not clocks: whatever is set here is replaced only by a record from
further on in its partition, so the reader catching up on older records (or a tombstone)
never brings back a disposition that was replaced, and a later one written by another
worker replaces this worker's own, whatever the two workers' clocks say.
"""

from __future__ import annotations

from collections import OrderedDict

from schemas.dispositions import Disposition
from tables.hitindex import hit_id_number

Position = tuple[int, int]


def _key(hit_id: str) -> int | str:
    # Hit ids are 64-bit numbers in hex: as ints they take a third of the memory.
    number = hit_id_number(hit_id)
    return hit_id if number is None else number


class DispositionBook:
    """Dispositions in force by hit id: the `capacity` most recently used whole, the rest
    by position."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._whole: OrderedDict[str, tuple[Disposition, Position]] = OrderedDict()
        self._positions: dict[int | str, Position] = {}
        # Where each withdrawn hit's tombstone is, so that this worker's own write read
        # back late (behind the tombstone) does not bring the disposition back.
        self._withdrawn: dict[int | str, Position] = {}

    def _held_position(self, hit_id: str) -> Position | None:
        held = self._whole.get(hit_id)
        if held is not None:
            return held[1]
        key = _key(hit_id)
        return self._positions.get(key) or self._withdrawn.get(key)

    def _superseded(self, hit_id: str, position: Position) -> bool:
        """Whether a record further on in `position`'s partition is already held."""
        held = self._held_position(hit_id)
        return held is not None and held[0] == position[0] and held[1] > position[1]

    def _keep(self, disposition: Disposition, position: Position) -> None:
        hit_id = disposition.hit_id
        self._positions.pop(_key(hit_id), None)
        self._withdrawn.pop(_key(hit_id), None)
        self._whole[hit_id] = (disposition, position)
        self._whole.move_to_end(hit_id)
        while len(self._whole) > self.capacity:
            old, (_, old_position) = self._whole.popitem(last=False)
            self._positions[_key(old)] = old_position

    def apply(self, disposition: Disposition, partition: int, offset: int) -> None:
        """Take a record read from the topic, or written by this worker at that position:
        it is the one in force for its hit unless one further on in its partition is held."""
        if not self._superseded(disposition.hit_id, (partition, offset)):
            self._keep(disposition, (partition, offset))

    def forget(self, hit_id: str, partition: int, offset: int) -> None:
        """Take a tombstone read from the topic: the hit has no disposition, unless one
        further on in its partition is held."""
        if not self._superseded(hit_id, (partition, offset)):
            self._whole.pop(hit_id, None)
            self._positions.pop(_key(hit_id), None)
            self._withdrawn[_key(hit_id)] = (partition, offset)

    def get(self, hit_id: str) -> Disposition | Position | None:
        """Return the disposition in force for `hit_id`, or its position on the topic when
        only that is kept (fetch it and `apply` it), or None when it has none."""
        held = self._whole.get(hit_id)
        if held is not None:
            self._whole.move_to_end(hit_id)
            return held[0]
        return self._positions.get(_key(hit_id))

    def __len__(self) -> int:
        return len(self._whole) + len(self._positions)
