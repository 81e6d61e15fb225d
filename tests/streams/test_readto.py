import asyncio

from streams.readto import FetchedEnds


def test_a_partition_is_unread_until_a_fetch_reported_its_end() -> None:
    ends = FetchedEnds(["a", "b"])
    ends.note({"a": 3}.get)
    assert ends.unread({"a": 3, "b": 0}) == ["b"]
    ends.note({"a": 3, "b": 0}.get)
    assert ends.unread({"a": 3, "b": 0}) == []


def test_the_end_is_the_one_first_reported_not_later_growth() -> None:
    ends = FetchedEnds(["a"])
    ends.note({"a": 5}.get)
    assert ends.unread({"a": 4}) == ["a"]
    ends.note({"a": 9}.get)  # records written since do not move the target
    assert ends.unread({"a": 5}) == []


def test_no_partitions_means_nothing_to_read() -> None:
    assert FetchedEnds([]).unread({}) == []


def test_known_is_none_until_every_partition_has_an_end() -> None:
    ends = FetchedEnds(["a", "b"])
    ends.note({"a": 3}.get)
    assert ends.known() is None
    ends.note({"a": 3, "b": 1}.get)
    assert ends.known() == {"a": 3, "b": 1}


def test_with_since_only_an_update_after_a_later_one_counts() -> None:
    # The first update after since_ms may answer a request sent before it; the next one
    # answers a request sent after that update was handled.
    ends = FetchedEnds(["a"], since_ms=100)
    ends.note({"a": 5}.get, {"a": 90}.get)  # before since_ms
    assert ends.known() is None
    ends.note({"a": 5}.get, {"a": 150}.get)  # first after
    assert ends.known() is None
    ends.note({"a": 5}.get, {"a": 150}.get)  # no new response
    assert ends.known() is None
    ends.note({"a": 7}.get, {"a": 260}.get)
    assert ends.known() == {"a": 7}


def test_with_since_a_partition_never_polled_stays_unknown() -> None:
    ends = FetchedEnds(["a"], since_ms=100)
    ends.note({"a": 5}.get, {}.get)
    ends.note({"a": 5}.get)
    assert ends.unread({"a": 5}) == ["a"]


class _Offsets:
    """ListOffsets answers of a consumer: earliest and latest per partition."""

    def __init__(self, starts: dict[str, int], ends: dict[str, int]) -> None:
        self.starts, self.ends = starts, ends
        self.asked: list[list[str]] = []

    async def beginning_offsets(self, tps: list[str]) -> dict[str, int]:
        self.asked.append(list(tps))
        return {tp: self.starts[tp] for tp in tps}

    async def end_offsets(self, tps: list[str]) -> dict[str, int]:
        return {tp: self.ends[tp] for tp in tps}


def test_take_empty_ends_only_the_partitions_listoffsets_finds_empty() -> None:
    # "b" ends at 1 after one batch of many records on the embedded broker: not empty, so
    # its end must still come from a fetch.
    consumer = _Offsets({"a": 0, "b": 0, "c": 7}, {"a": 0, "b": 1, "c": 7})
    ends = FetchedEnds(["a", "b", "c"], since_ms=100)
    asyncio.run(ends.take_empty(consumer))
    assert ends.known() is None
    assert ends.unread({"a": 0, "b": 0, "c": 7}) == ["b"]
    ends.note(lambda tp: 3, lambda tp: 200)
    ends.note(lambda tp: 3, lambda tp: 300)
    assert ends.known() == {"a": 0, "b": 3, "c": 7}


def test_take_empty_asks_nothing_once_every_end_is_known() -> None:
    consumer = _Offsets({"a": 0}, {"a": 0})
    ends = FetchedEnds(["a"])
    ends.note(lambda tp: 5)
    asyncio.run(ends.take_empty(consumer))
    assert consumer.asked == [] and ends.known() == {"a": 5}
