"""The one way a worker writes to `vigil.audit`: every event sealed into this worker's chain.

Callers that already send a batch (agents) take the `Outgoing` from `entry()` and deliver it
with their batch, so the audit event is acked with the input; others `await write()`.

With `audit.signing_key_file` set, the trail also seals signed checkpoints into the chain
(schemas/audit_signing.py): right after every `audit.checkpoint_every_events`-th event, in
the same message as that event (its destination sends both, so the checkpoint is acked with
the caller's batch), and from a timer every `audit.checkpoint_every_s` seconds when any event
came since the last one. The count of the newest checkpoint the broker has acked is the
gauge `vigil_audit_checkpoint_events{producer}`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import operator
import socket
import stat
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import faust
from faust.types import TopicT
from prometheus_client import Counter, Gauge

from agents.metrics import Metrics
from config.settings import Settings, SettingsError
from schemas.audit import AuditChain, Templated
from schemas.audit_signing import CHECKPOINT_TYPE, CheckpointSigner, load_private_key
from schemas.clock import Clock, now_ms
from schemas.json import dumps
from streams.delivery import Destination, Outgoing, deliver

log = logging.getLogger(__name__)


def new_producer_id() -> str:
    """Return an id for this process's chain: host, and a random part so restarts differ."""
    return f"{socket.gethostname()}/{uuid.uuid4().hex[:12]}"


class _AndCheckpoint:
    """A destination that sends a message and then `checkpoint` to `topic`, and calls
    `on_acked` once the broker has both (a retry sends both again)."""

    def __init__(self, topic: Destination, checkpoint: bytes | None,
                 on_acked: Callable[[], None]) -> None:
        self.topic = topic
        self.checkpoint = checkpoint
        self.on_acked = on_acked

    async def send(self, *, key: bytes | None, value: bytes) -> asyncio.Future:
        futures = [await self.topic.send(key=key, value=value)]
        if self.checkpoint is not None:
            futures.append(await self.topic.send(key=None, value=self.checkpoint))
        both = asyncio.gather(*futures)
        both.add_done_callback(self._done)
        return both

    def _done(self, future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is None:
            self.on_acked()


class AuditTrail:
    """Seals audit events into this worker's chain and turns them into messages."""

    def __init__(self, topic: TopicT, events_counter: Counter, send_retries: int,
                 producer: str | None = None, *, signer: CheckpointSigner | None = None,
                 checkpoint_every_events: int = 1000, checkpoint_gauge: Gauge | None = None,
                 clock: Clock = now_ms) -> None:
        self.topic = topic
        self.chain = AuditChain(producer or new_producer_id())
        self._counter = events_counter
        self._retries = send_retries
        self.signer = signer
        self._every = checkpoint_every_events
        self._gauge = checkpoint_gauge
        self._clock = clock
        self._since = 0  # events sealed since the last checkpoint
        self.signed = 0  # events covered by the newest checkpoint the broker has acked

    def entry(self, event: dict[str, Any]) -> Outgoing:
        """Seal `event` (it needs a `type`) and return it as a message for the audit topic
        (with a checkpoint after it when one is due)."""
        self._counter.labels(event["type"]).inc()
        value = dumps(self.chain.seal(event))
        self._since += 1
        if self.signer is None or self._since < self._every:
            return Outgoing(self.topic, None, value)
        checkpoint, count = self._seal_checkpoint()
        return Outgoing(_AndCheckpoint(self.topic, checkpoint, lambda: self._acked(count)),
                        None, value)

    def seal_batch(self, events: Sequence[dict[str, Any] | Templated]
                   ) -> tuple[list[bytes], list[int]]:
        """Seal `events` in order (dicts, or schemas/audit.py `Templated` ones) and return the
        audit topic's values for them, each checkpoint that came due right after its event,
        and the counts of those checkpoints: the caller writes the values and, once the
        broker has them all, calls `acked`."""
        if self.signer is None:
            values = self.chain.seal_many(events)
            self._since += len(events)
            checkpoints: list[int] = []
        else:
            values, checkpoints = [], []
            start = 0
            while start < len(events):
                # The events up to the next checkpoint sealed in one go, then the checkpoint.
                end = min(len(events), start + max(1, self._every - self._since))
                values += self.chain.seal_many(events[start:end])
                self._since += end - start
                start = end
                if self._since >= self._every:
                    checkpoint, count = self._seal_checkpoint()
                    values.append(checkpoint)
                    checkpoints.append(count)
        for kind, n in _types(events).items():
            self._counter.labels(kind).inc(n)
        return values, checkpoints

    def acked(self, checkpoints: Iterable[int]) -> None:
        """Note that the broker has the checkpoints of these counts (from `seal_batch`)."""
        for count in checkpoints:
            self._acked(count)

    async def write(self, *events: dict[str, Any]) -> None:
        """Seal `events` and wait until the broker has them."""
        await deliver([self.entry(e) for e in events], self._retries)

    def checkpoint(self) -> Outgoing | None:
        """Seal a checkpoint over the chain's head and return its message, or None when
        there is no key or no event since the last checkpoint."""
        if self.signer is None or not self._since:
            return None
        checkpoint, count = self._seal_checkpoint()
        return Outgoing(_AndCheckpoint(self.topic, None, lambda: self._acked(count)),
                        None, checkpoint)

    async def write_checkpoint(self) -> bool:
        """Write a checkpoint when one is due (see `checkpoint`); return whether one was."""
        message = self.checkpoint()
        if message is not None:
            await deliver([message], self._retries)
        return message is not None

    def _seal_checkpoint(self) -> tuple[bytes, int]:
        assert self.signer is not None
        sealed = self.signer.seal_checkpoint(self.chain, self._clock())
        assert sealed is not None  # an event came since the last checkpoint
        self._counter.labels(CHECKPOINT_TYPE).inc()
        self._since = 0
        return dumps(sealed), sealed["count"]

    def _acked(self, count: int) -> None:
        self.signed = max(self.signed, count)  # acks of two checkpoints may come reordered
        if self._gauge is not None:
            self._gauge.labels(self.chain.producer).set(self.signed)


def _types(events: Sequence[dict[str, Any] | Templated]) -> collections.Counter[str]:
    """Count `events` by type; without a Python step per event when all are dicts or all
    templated (a bulk load's chunk: this is per-command cost)."""
    kinds = collections.Counter(map(type, events))
    if kinds[tuple] == len(events):
        return collections.Counter(map(operator.itemgetter(0), events))
    if kinds[dict] == len(events):
        return collections.Counter(map(operator.itemgetter("type"), events))
    return collections.Counter(event[0] if type(event) is tuple else event["type"]  # type: ignore[index]
                               for event in events)


def load_signer(path: str) -> CheckpointSigner:
    """Return a signer with the Ed25519 private key in PEM file `path`; raise SettingsError
    naming the file when it cannot be read or holds no such key."""
    try:
        pem = Path(path).read_bytes()
        signer = CheckpointSigner(load_private_key(pem))
    except (OSError, ValueError) as exc:
        raise SettingsError(f"audit.signing_key_file {path!r}: {exc}") from None
    if Path(path).stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("audit.signing_key_file %s can be read by others than its owner "
                    "(chmod 600 it)", path)
    return signer


def build_audit_trail(topic: TopicT, settings: Settings, metrics: Metrics) -> AuditTrail:
    """Return the worker's audit trail, signing checkpoints when `audit.signing_key_file`
    is set (a key that cannot be loaded stops the worker: SettingsError)."""
    a = settings.audit
    signer = load_signer(a.signing_key_file) if a.signing_key_file else None
    trail = AuditTrail(topic, metrics.audit_events, settings.worker.send_retries,
                       signer=signer, checkpoint_every_events=a.checkpoint_every_events,
                       checkpoint_gauge=metrics.audit_checkpoint_events)
    if signer is not None:
        log.info("audit trail %s: checkpoints signed with key id %s", trail.chain.producer,
                 signer.key_id)
    return trail


def register_audit_checkpoints(app: faust.App, trail: AuditTrail, every_s: float) -> None:
    """Register the timer that writes a checkpoint every `every_s` seconds when any audit
    event came since the last one (nothing without a signing key)."""
    if trail.signer is None:
        return

    @app.timer(interval=every_s)
    async def audit_checkpoint() -> None:
        await trail.write_checkpoint()
