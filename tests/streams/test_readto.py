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
