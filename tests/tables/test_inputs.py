"""The input-stream registry: every stream is complete and everything that lists the
streams lists them from the registry."""

from __future__ import annotations

import dataclasses

from config.settings import TopicSettings
from schemas.sensing import encode_sensing_batch
from streams.topics import CONTRACT_TOPICS
from tables.inputs import INPUT_STREAMS, input_stream
from tables.watchlist import Watchlist


def test_names_and_sources_are_unique() -> None:
    assert len({s.name for s in INPUT_STREAMS}) == len(INPUT_STREAMS)
    assert len({s.source for s in INPUT_STREAMS}) == len(INPUT_STREAMS)


def test_every_stream_has_a_topic_and_a_partitions_setting() -> None:
    settings = {f.name for f in dataclasses.fields(TopicSettings)}
    for s in INPUT_STREAMS:
        assert CONTRACT_TOPICS[s.name] == s.contract_topic == f"vigil.{s.name}"
        assert f"{s.name}_partitions" in settings


def test_every_stream_decodes_and_matches_an_empty_message() -> None:
    for s in INPUT_STREAMS:
        records, rejected = s.decode(b"[]", None)
        assert rejected == [] and s.find_hits(records, Watchlist(), 0) == []


def test_binary_messages_are_told_apart_from_json() -> None:
    sensing = input_stream("sensing")
    packed = encode_sensing_batch([{"ts": 1, "sensor_id": 1, "id_type": "mac",
                                    "device_id": "a45e60d1229f"}])
    assert sensing.formats == ("binary", "json")
    assert sensing.message_format(packed, None) == "binary"
    assert sensing.message_format(b"[]", sensing.binary.content_type) == "binary"
    assert sensing.message_format(b"[]", None) == "json"
    assert input_stream("plates").message_format(packed, None) == "json"
