"""SSE frames, resumable event ids and the client-side parser."""

from __future__ import annotations

import pytest

from web.sse import decode_position, encode_position, frame, parse_events


def test_positions_round_trip_through_event_ids() -> None:
    assert encode_position({1: 4, 0: 17}) == "0:17,1:4"
    assert decode_position("0:17,1:4") == {0: 17, 1: 4}


@pytest.mark.parametrize("bad", ["", "0", "0:x", "a:1", "0:1,0:2", "0:-1"])
def test_bad_event_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_position(bad)


def test_frames_parse_back_into_events() -> None:
    text = (b": ping\n\n" + frame("hit", b'{"a":1}', "0:3") + frame("lagged", b"{}")).decode()
    events = list(parse_events(text.splitlines(keepends=True)))
    assert [(e.event, e.data, e.id) for e in events] == [
        ("hit", '{"a":1}', "0:3"), ("lagged", "{}", None)]
