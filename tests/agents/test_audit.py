"""The worker's audit trail: events sealed, checkpoints signed and written, the gauge set
once the broker has a checkpoint; without a broker."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

import pytest

from agents.audit import AuditTrail, build_audit_trail, register_audit_checkpoints
from agents.metrics import build_metrics
from config.settings import SettingsError, load_settings
from schemas.audit import verify_chain
from schemas.audit_signing import (
    CheckpointSigner,
    load_private_key,
    load_public_key,
    new_private_key_pem,
    public_key_pem,
    verify_checkpoints,
)
from schemas.json import loads
from streams.delivery import deliver


class FakeTopic:
    """Takes messages; their acks come when the test says (all at once, or failing)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.futures: list[asyncio.Future] = []
        self.hold = False

    async def send(self, *, key: bytes | None, value: bytes) -> asyncio.Future:
        self.sent.append(value)
        future = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        if not self.hold:
            future.set_result(None)
        return future

    def events(self) -> list[dict]:
        return [loads(v) for v in self.sent]


def make_trail(topic: FakeTopic, every: int = 3) -> tuple[AuditTrail, CheckpointSigner, object]:
    metrics = build_metrics()
    signer = CheckpointSigner(load_private_key(new_private_key_pem()))
    trail = AuditTrail(topic, metrics.audit_events, 0, "w1", signer=signer,
                       checkpoint_every_events=every,
                       checkpoint_gauge=metrics.audit_checkpoint_events, clock=lambda: 7)
    return trail, signer, metrics


def gauge(metrics, producer: str = "w1") -> float | None:
    return metrics.registry.get_sample_value("vigil_audit_checkpoint_events",
                                             {"producer": producer})


def verify(topic: FakeTopic, signer: CheckpointSigner, every: int = 3):
    listed = [(str(i), e) for i, e in enumerate(topic.events())]
    keys = {signer.key_id: load_public_key(public_key_pem(signer._key))}
    return verify_chain(listed), verify_checkpoints(listed, keys, every)


def test_a_checkpoint_follows_every_nth_event_in_the_same_message() -> None:
    async def run() -> None:
        topic = FakeTopic()
        trail, signer, metrics = make_trail(topic)
        out = [trail.entry({"type": "ack", "at": i}) for i in range(7)]
        assert [o.topic is topic for o in out] == [True, True, False, True, True, False, True]
        await deliver(out, 0)
        assert [e["type"] for e in topic.events()] == (["ack"] * 3 + ["audit_checkpoint"]) * 2 \
            + ["ack"]
        assert gauge(metrics) == 7 and trail.signed == 7  # checkpoints count too
        # The timer covers the one event since; then there is nothing to cover.
        assert await trail.write_checkpoint() is True
        assert await trail.write_checkpoint() is False
        assert gauge(metrics) == 9
        chain, signing = verify(topic, signer)
        assert chain.fault is None and signing.status == "ok"
        assert signing.producers[0].proven == 9 and signing.producers[0].checkpoints == 3
        counted = metrics.registry.get_sample_value("vigil_audit_events_total",
                                                    {"type": "audit_checkpoint"})
        assert counted == 3

    asyncio.run(run())


def test_the_gauge_waits_for_the_broker_and_never_goes_back() -> None:
    async def run() -> None:
        topic = FakeTopic()
        trail, _signer, metrics = make_trail(topic, every=1)
        topic.hold = True
        first, second = (trail.entry({"type": "ack", "at": i}) for i in range(2))
        first_future = await first.topic.send(key=None, value=first.value)
        second_future = await second.topic.send(key=None, value=second.value)
        assert gauge(metrics) is None
        for f in topic.futures[2:]:
            f.set_result(None)
        await second_future
        assert gauge(metrics) == 3  # seq 0, checkpoint, seq 2 covered
        for f in topic.futures[:2]:
            f.set_result(None)
        await first_future
        assert gauge(metrics) == 3

    asyncio.run(run())


def test_without_a_key_nothing_changes() -> None:
    async def run() -> None:
        topic = FakeTopic()
        metrics = build_metrics()
        trail = AuditTrail(topic, metrics.audit_events, 0, "w1")
        out = [trail.entry({"type": "ack", "at": i}) for i in range(2000)]
        assert all(o.topic is topic for o in out)
        assert trail.checkpoint() is None and await trail.write_checkpoint() is False

    asyncio.run(run())


class FakeApp:
    def __init__(self) -> None:
        self.timers: list[float] = []

    def timer(self, interval: float):
        self.timers.append(interval)
        return lambda fn: fn


def test_the_worker_trail_loads_its_key_from_settings(tmp_path: Path) -> None:
    key = tmp_path / "audit.pem"
    key.write_bytes(new_private_key_pem())
    os.chmod(key, 0o600)
    base = load_settings(env={})
    settings = dataclasses.replace(base, audit=dataclasses.replace(
        base.audit, signing_key_file=str(key), checkpoint_every_events=10,
        checkpoint_every_s=5.0))
    trail = build_audit_trail("AUDIT", settings, build_metrics())
    assert trail.signer is not None and trail._every == 10
    app = FakeApp()
    register_audit_checkpoints(app, trail, settings.audit.checkpoint_every_s)
    assert app.timers == [5.0]
    unsigned = build_audit_trail("AUDIT", base, build_metrics())
    register_audit_checkpoints(app, unsigned, 5.0)
    assert unsigned.signer is None and app.timers == [5.0]
    for bad in (tmp_path / "missing.pem", tmp_path / "public.pem"):
        if bad.name == "public.pem":
            bad.write_bytes(public_key_pem(trail.signer._key))
        settings = dataclasses.replace(base, audit=dataclasses.replace(
            base.audit, signing_key_file=str(bad)))
        with pytest.raises(SettingsError, match=r"audit\.signing_key_file"):
            build_audit_trail("AUDIT", settings, build_metrics())
