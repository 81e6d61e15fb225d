"""The recording file: frames round-trip, damage is reported, record counts are right."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest.replay.recording import (
    FILE_MAGIC,
    RECORDED_TOPICS,
    RecordedMessage,
    RecordingError,
    RecordingWriter,
    count_records,
    read_recording,
)
from schemas.json import dumps
from schemas.sensing import encode_sensing_batch

messages = st.builds(
    RecordedMessage,
    topic=st.sampled_from(RECORDED_TOPICS),
    partition=st.integers(0, 1023),
    timestamp_ms=st.integers(0, 2**53),
    key=st.none() | st.binary(max_size=40),
    value=st.none() | st.binary(max_size=300),
    headers=st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=40)), max_size=3
                     ).map(tuple),
    records=st.integers(0, 2**32 - 1),
)


def _write(path: Path, msgs: list[RecordedMessage]) -> None:
    with RecordingWriter(path) as w:
        for m in msgs:
            w.write(m)


@given(msgs=st.lists(messages, max_size=20))
def test_messages_round_trip_and_rewrite_to_the_same_bytes(tmp_path_factory, msgs) -> None:
    d = tmp_path_factory.mktemp("rec")
    _write(d / "a.rec", msgs)
    back = list(read_recording(d / "a.rec"))
    assert back == msgs
    _write(d / "b.rec", back)
    assert (d / "a.rec").read_bytes() == (d / "b.rec").read_bytes()


def test_a_cut_file_and_a_foreign_file_are_refused(tmp_path: Path) -> None:
    msg = RecordedMessage("plates", 1, 5, b"k", b'{"a": 1}', (("h", b"v"),), 1)
    _write(tmp_path / "a.rec", [msg])
    data = (tmp_path / "a.rec").read_bytes()
    (tmp_path / "cut.rec").write_bytes(data[:-3])
    with pytest.raises(RecordingError, match="cut short"):
        list(read_recording(tmp_path / "cut.rec"))
    (tmp_path / "other.rec").write_bytes(b"PK\x03\x04" + data[len(FILE_MAGIC):])
    with pytest.raises(RecordingError, match="not a Vigil recording"):
        list(read_recording(tmp_path / "other.rec"))


def test_record_counts() -> None:
    batch = encode_sensing_batch([{"ts": 1, "sensor_id": 1, "id_type": "mac",
                                   "device_id": "001122334455"}] * 3)
    assert count_records("sensing", batch) == 3
    assert count_records("plates", dumps([{"a": 1}, {"b": 2}])) == 2
    assert count_records("plates", dumps({"a": 1})) == 1
    assert count_records("checkins", b"[not json") == 1
    assert count_records("watchlist", None) == 1
