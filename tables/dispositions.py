"""The disposition in force per hit, as one worker knows it, in bounded memory.

Every worker reads all of `vigil.dispositions` (compacted, key hit_id) and applies each
record in topic order, so the last one read for a hit is the one in force. The newest
`capacity` dispositions used are kept whole; of older ones only their position (partition,
offset) is kept, about 100 bytes each, and the caller fetches the record again when asked
(dispositions are made by people, a few thousand a day, so the positions stay small).

A worker that records a disposition also sets it here at once, before its own reader reads
it back (`record`), so a GET right after the POST shows it. That provisional copy yields to
whatever the topic says: the reader's copy replaces it, and it never replaces a newer one.
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
        # hit id -> (disposition, its position; None while only this worker's copy).
        self._whole: OrderedDict[str, tuple[Disposition, Position | None]] = OrderedDict()
        self._positions: dict[int | str, Position] = {}

    def _keep(self, disposition: Disposition, position: Position | None) -> None:
        hit_id = disposition.hit_id
        self._positions.pop(_key(hit_id), None)
        self._whole[hit_id] = (disposition, position)
        self._whole.move_to_end(hit_id)
        while len(self._whole) > self.capacity:
            old, (_, old_position) = self._whole.popitem(last=False)
            if old_position is not None:  # a provisional copy is read back shortly anyway
                self._positions[_key(old)] = old_position

    def apply(self, disposition: Disposition, partition: int, offset: int) -> None:
        """Take a record read from the topic: it is the one in force for its hit."""
        self._keep(disposition, (partition, offset))

    def forget(self, hit_id: str) -> None:
        """Take a tombstone read from the topic: the hit has no disposition."""
        self._whole.pop(hit_id, None)
        self._positions.pop(_key(hit_id), None)

    def record(self, disposition: Disposition) -> None:
        """Take a disposition this worker has just written, unless the topic already gave a
        newer one."""
        held = self._whole.get(disposition.hit_id)
        if held is None or held[0].at <= disposition.at:
            self._keep(disposition, None)

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
