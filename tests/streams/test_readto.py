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
