"""SSE frames, resumable event ids and the client-side parser."""

from __future__ import annotations

import pytest

from web.sse import BadEventId, decode_position, encode_position, frame, parse_events


def test_positions_round_trip_through_event_ids() -> None:
    assert encode_position({1: 4, 0: 17}) == "0:17,1:4"
    assert decode_position("0:17,1:4") == {0: 17, 1: 4}


# Each found by an attacker: huge numbers, Python's digit limit, full-width and other
# Unicode digits, too many partitions.
BAD_IDS = ["", "0", "0:x", "a:1", "0:1,0:2", "0:-1", "+0:1", "0:1,", " 0:1,1:2 ,",
           "0:99999999999999999999999999", "0:" + "9" * 7000, "0:9223372036854775808",
           "0:\uff11", "\uff10:1", "0:\u00b9", "0:\u0661", "0:1\n",
           ",".join(f"{p}:0" for p in range(1025))]


@pytest.mark.parametrize("bad", BAD_IDS, ids=range(len(BAD_IDS)))
def test_bad_event_ids_are_refused_with_a_fixed_message(bad: str) -> None:
    with pytest.raises(BadEventId) as refused:
        decode_position(bad)
    assert str(refused.value) == "not a hit stream event id"


def test_the_largest_event_ids_are_accepted() -> None:
    assert decode_position("0:9223372036854775807") == {0: 2**63 - 1}
    wide = ",".join(f"{p}:{p}" for p in range(1024))
    assert decode_position(wide) == {p: p for p in range(1024)}


def test_frames_parse_back_into_events() -> None:
    text = (b": ping\n\n" + frame("hit", b'{"a":1}', "0:3") + frame("lagged", b"{}")).decode()
    events = list(parse_events(text.splitlines(keepends=True)))
    assert [(e.event, e.data, e.id) for e in events] == [
        ("hit", '{"a":1}', "0:3"), ("lagged", "{}", None)]
