"""The one way a worker writes to `vigil.audit`: every event sealed into this worker's chain.

Callers that already send a batch (agents) take the `Outgoing` from `entry()` and deliver it
with their batch, so the audit event is acked with the input; others `await write()`.
"""

from __future__ import annotations

import socket
import uuid
from typing import Any

from faust.types import TopicT
from prometheus_client import Counter

from schemas.audit import AuditChain
from schemas.json import dumps
from streams.delivery import Outgoing, deliver


def new_producer_id() -> str:
    """Return an id for this process's chain: host, and a random part so restarts differ."""
    return f"{socket.gethostname()}/{uuid.uuid4().hex[:12]}"


class AuditTrail:
    """Seals audit events into this worker's chain and turns them into messages."""

    def __init__(self, topic: TopicT, events_counter: Counter, send_retries: int,
                 producer: str | None = None) -> None:
        self.topic = topic
        self.chain = AuditChain(producer or new_producer_id())
        self._counter = events_counter
        self._retries = send_retries

    def entry(self, event: dict[str, Any]) -> Outgoing:
        """Seal `event` (it needs a `type`) and return it as a message for the audit topic."""
        self._counter.labels(event["type"]).inc()
        return Outgoing(self.topic, None, dumps(self.chain.seal(event)))

    async def write(self, *events: dict[str, Any]) -> None:
        """Seal `events` and wait until the broker has them."""
        await deliver([self.entry(e) for e in events], self._retries)
