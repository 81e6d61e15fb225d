"""`vigil produce` fails when the broker refuses a message, rather than reporting it sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka.errors import InvalidRecordError
from kafka.future import Future

import streams.clients
from cli.main import main
from schemas.json import dumps


class _CompactingBroker:
    """A producer to a compacted topic, as Apache Kafka answers it: a keyless record is
    refused, the others taken; answers come at the flush, as the broker's acks do."""

    def __init__(self) -> None:
        self.pending: list[tuple[Future, bytes | None, bytes]] = []
        self.taken: list[bytes] = []

    def send(self, topic: str, value: bytes, key: bytes | None = None, **_: Any) -> Future:
        future = Future()
        self.pending.append((future, key, value))
        return future

    def flush(self) -> None:
        for future, key, value in self.pending:
            if key is None:
                future.failure(InvalidRecordError("Compacted topic cannot accept message "
                                                  "without key"))
            else:
                self.taken.append(value)
                future.success(None)
        self.pending.clear()

    def close(self) -> None: ...


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> _CompactingBroker:
    b = _CompactingBroker()
    monkeypatch.setattr(streams.clients, "make_producer", lambda settings: b)
    return b


def command(entry_id: str | None) -> bytes:
    doc = {"op": "delete", "requested_by": "unit-5", "reason": "test"}
    return dumps(doc if entry_id is None else {**doc, "entry_id": entry_id})


def test_a_refused_message_makes_the_command_fail_and_say_why(
        broker: _CompactingBroker, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lines = tmp_path / "commands.jsonl"
    lines.write_bytes(b"\n".join([command("W-1"), command(None), command("W-2")]) + b"\n")
    assert main(["produce", "watchlist", str(lines)]) == 1
    err = capsys.readouterr().err
    assert "refused 1 of the messages" in err and "without key" in err, err
    assert "produced" not in err
    assert len(broker.taken) == 2


def test_messages_all_taken_are_reported_produced(
        broker: _CompactingBroker, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lines = tmp_path / "commands.jsonl"
    lines.write_bytes(command("W-1") + b"\n" + command("W-2") + b"\n")
    assert main(["produce", "watchlist", str(lines)]) == 0
    assert "produced 2 records" in capsys.readouterr().err
    assert len(broker.taken) == 2
