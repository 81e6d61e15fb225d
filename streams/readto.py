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

import asyncio
import time
from collections.abc import Callable, Hashable, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.clock import now_ms

Lookup = Callable[[Hashable], int | None]

# How long a reader's getmany waits for records: until it has read to the ends, briefly, since
# the answer that tells it so may carry no record (an empty topic, a checkpoint's empty tail:
# measured 0.5 s to "loaded" with the long wait); then long, as it only follows the topic.
LOADING_POLL_MS = 50
FOLLOWING_POLL_MS = 500


def poll_ms(loaded: bool) -> int:
    """Return how long a reader's getmany may wait, before (False) or after it has read to
    the ends it reads to first."""
    return FOLLOWING_POLL_MS if loaded else LOADING_POLL_MS


class FetchedEnds:
    """Each partition's end as reported by the first fetch response that covered it.

    `since_ms`: only a response to a fetch sent after that moment counts, for a consumer
    that was already fetching then (a reader catching up with what was written up to a
    partition assignment, say). aiokafka tells when a partition's high watermark was last
    updated (`last_poll_timestamp`), not when the request left; it sends the next request
    to a broker only after the previous response is handled, so the second update after
    `since_ms` answers a request sent after it. Updates that fall between two `note` calls
    look like one, which only makes the wait one response longer.
    """

    def __init__(self, partitions: Iterable[Hashable], since_ms: int | None = None) -> None:
        self.partitions = list(partitions)
        self.since_ms = since_ms
        self._ends: dict[Hashable, int] = {}
        self._first_update: dict[Hashable, int] = {}

    @classmethod
    def from_now(cls, partitions: Iterable[Hashable]) -> FetchedEnds:
        """Return ends to be taken from fetches sent from now on (see `since_ms`)."""
        return cls(partitions, since_ms=now_ms())  # aiokafka stamps fetches with the wall clock

    def note(self, highwater: Lookup, polled: Lookup | None = None) -> None:
        """Take the end of every partition not yet known from `highwater` (a consumer's
        `highwater` method: None until a fetch response has covered the partition), and,
        with `since_ms`, its update time from `polled` (`last_poll_timestamp`)."""
        for tp in self.partitions:
            if tp in self._ends or (end := highwater(tp)) is None:
                continue
            if self.since_ms is not None:
                at = polled(tp) if polled is not None else None
                if at is None or at <= self.since_ms:
                    continue
                if self._first_update.setdefault(tp, at) == at:
                    continue  # its request may have left before since_ms
            self._ends[tp] = end

    async def take_empty(self, consumer: AIOKafkaConsumer) -> bool:
        """Take the end of every partition not yet known that ListOffsets finds empty (its
        log start and end the same) from `consumer` (assigned them all); return whether
        every end is known now (a reader has nothing to poll for first).

        The one thing ListOffsets gets right on every broker: an empty partition has no
        batch either. And one that saves a fetch the embedded broker holds for its whole
        wait when there is nothing to return (BROKER.md item 6: 0.1 s of a worker's start
        per empty topic it reads before joining its group)."""
        unknown = [tp for tp in self.partitions if tp not in self._ends]
        if not unknown:
            return True
        starts, ends = await asyncio.gather(consumer.beginning_offsets(unknown),
                                            consumer.end_offsets(unknown))
        for tp in unknown:
            if starts[tp] == ends[tp]:
                self._ends[tp] = ends[tp]
        return self.known() is not None

    def known(self) -> dict[Hashable, int] | None:
        """Return every partition's end once all are known, else None."""
        return dict(self._ends) if len(self._ends) == len(self.partitions) else None

    def unread(self, positions: Mapping[Hashable, int]) -> list[Hashable]:
        """Return the partitions whose end is unknown or not yet reached by `positions`."""
        return [tp for tp in self.partitions
                if tp not in self._ends or positions[tp] < self._ends[tp]]


async def current_ends(consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                       timeout_s: float) -> dict[TopicPartition, int]:
    """Return where each of `tps` (assigned to `consumer`) ends now, from fetch responses.

    Moves the consumer's positions (to near those ends; the records read on the way are
    dropped), so the caller seeks afterwards. Raises TimeoutError when a partition's end is
    not known within `timeout_s`.
    """
    ends = FetchedEnds.from_now(tps)
    await consumer.seek_to_end(*tps)  # ListOffsets: at or a batch short of the end
    deadline = time.monotonic() + timeout_s
    while (known := ends.known()) is None:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no fetch response gave the ends of {tps} in {timeout_s}s")
        await consumer.getmany(*tps, timeout_ms=100, max_records=10_000)
        ends.note(consumer.highwater, consumer.last_poll_timestamp)
    return known


async def shrunk_partitions(consumer: AIOKafkaConsumer, read_upto: Mapping[TopicPartition, int],
                            one_record_per_batch: bool) -> dict[int, tuple[int, int]]:
    """Return the partitions that now end before what was read from them (`read_upto`: the
    offset after the last record read), as {partition: (end, read)}: a broker that came back
    empty. Where the end offset counts batches (BROKER.md defect 1; `one_record_per_batch`
    is on for such a broker), a batch of several records from another producer leaves it
    below what was read, so there only an empty partition counts."""
    if not read_upto:
        return {}
    ends = await consumer.end_offsets(list(read_upto))
    return {tp.partition: (ends[tp], upto) for tp, upto in read_upto.items()
            if (ends[tp] == 0 if one_record_per_batch else ends[tp] < upto)}
