"""Reading a topic up to where it ended when the reading began, on any broker.

The end comes from the high watermark of the fetch responses, not from ListOffsets. On the
embedded broker ListOffsets answers with the base offset of the partition's last stored
batch plus one (BROKER.md, defect 1; Tansu's `DynoStore::list_offsets`), so a topic written
in batches of many records looks read long before it is. The high watermark that the same
broker puts in its fetch responses counts records (measured: three 1,000-record batches,
ListOffsets 2,001, fetch high watermark 3,000). Apache Kafka gives the same figure both
ways, so readers that use the fetch figure need no broker-specific mode.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping


class FetchedEnds:
    """Each partition's end as reported by the first fetch response that covered it."""

    def __init__(self, partitions: Iterable[Hashable]) -> None:
        self.partitions = list(partitions)
        self._ends: dict[Hashable, int] = {}

    def note(self, highwater: Callable[[Hashable], int | None]) -> None:
        """Take the end of every partition not yet known from `highwater` (a consumer's
        `highwater` method: None until a fetch response has covered the partition)."""
        for tp in self.partitions:
            if tp not in self._ends and (end := highwater(tp)) is not None:
                self._ends[tp] = end

    def unread(self, positions: Mapping[Hashable, int]) -> list[Hashable]:
        """Return the partitions whose end is unknown or not yet reached by `positions`."""
        return [tp for tp in self.partitions
                if tp not in self._ends or positions[tp] < self._ends[tp]]
