"""The audit chain: each producer numbers its events and links each to the previous one's hash.

An event carries `producer` (one id per worker process), `seq` (0, 1, 2, ... per producer),
`prev_hash` (the `hash` of that producer's event `seq - 1`, or GENESIS for seq 0) and
`hash` (SHA-256 of the event's canonical JSON without `hash`). Editing an event changes
its hash; removing one leaves a gap in `seq` and a `prev_hash` that points nowhere. Only
the newest events of a producer can be dropped unnoticed (nothing links to them yet), and
anyone who can write the topic can rewrite a chain and recompute its hashes: signed
checkpoints (schemas/audit_signing.py) catch both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = "0" * 64
CHAIN_FIELDS = ("producer", "seq", "prev_hash", "hash")

Templated = tuple[str, bytes]
"""An event given as its `type` and a %-format of its canonical JSON (keys sorted, no
`hash`) without the closing brace, the chain fields' values left to fill: `%s` for
`prev_hash` (between its quotes), `%s` for `producer` (a JSON string), `%d` for `seq`, every
other `%` doubled. The chain fields sort in that order among any keys (PREV_HASH_SLOT,
SEQ_SLOT). Built straight from columns, so that a bulk load's events are never dicts
walked by orjson."""
PREV_HASH_SLOT = '"prev_hash":"%s","producer":%s'
SEQ_SLOT = '"seq":%d'


def event_hash(event: dict[str, Any]) -> str:
    """Return the SHA-256 hex digest of `event` without its `hash` field, keys sorted."""
    body = {k: v for k, v in event.items() if k != "hash"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class AuditChain:
    """Seals events of one producer into a chain (not thread-safe: one event loop)."""

    def __init__(self, producer: str) -> None:
        self.producer = producer
        self._seq = 0
        self._prev = GENESIS

    @property
    def head(self) -> tuple[int, str] | None:
        """Return the seq and hash of the newest sealed event, or None before the first."""
        return (self._seq - 1, self._prev) if self._seq else None

    def seal(self, event: dict[str, Any]) -> dict[str, Any]:
        """Return `event` with its chain fields set; the next event links to it."""
        sealed = {**event, "producer": self.producer, "seq": self._seq, "prev_hash": self._prev}
        sealed["hash"] = event_hash(sealed)
        self._seq += 1
        self._prev = sealed["hash"]
        return sealed

    def seal_many(self, events: Sequence[dict[str, Any] | Templated]) -> list[bytes]:
        """Seal `events` (dicts, or `Templated` ones) in order like `seal` and return each as
        JSON, serialised once: its keys sorted, `hash` last (the same event as
        `dumps(seal(event))`, keys in another order). Nothing is sealed when one cannot be
        serialised (the error is raised)."""
        # One loop with everything bound locally: this is a bulk load's per-command cost.
        producer, seq, prev = self.producer, self._seq, self._prev.encode()
        dumps, sha256, sort_keys = orjson.dumps, hashlib.sha256, orjson.OPT_SORT_KEYS
        producer_json = dumps(producer)
        out: list[bytes] = []
        append = out.append
        for event in events:
            # The event's JSON without its closing brace, and the hash of all of it.
            if type(event) is tuple:
                body = event[1] % (prev, producer_json, seq)
                digest = sha256(body)
                digest.update(b"}")
            else:
                raw = dumps({**event, "producer": producer, "seq": seq,  # type: ignore[dict-item]
                             "prev_hash": prev.decode()}, option=sort_keys)
                body, digest = raw[:-1], sha256(raw)
            prev = digest.hexdigest().encode()
            append(b'%s,"hash":"%s"}' % (body, prev))
            seq += 1
        self._seq, self._prev = seq, prev.decode()
        return out


@dataclass(frozen=True)
class ChainFault:
    """The first bad event found: where it is (as the caller named it) and what is wrong."""

    where: str
    problem: str


@dataclass(frozen=True)
class ChainReport:
    """The result of checking a log of audit events."""

    events: int
    producers: int
    fault: ChainFault | None

    def summary(self) -> str:
        """Return one line for the operator."""
        head = f"{self.events} events from {self.producers} producers"
        return f"bad: {self.fault.where}: {self.fault.problem} ({head})" if self.fault \
            else f"ok: {head}, every chain intact"


def _problem(event: Any) -> str | None:
    """Return why `event` is not a sealed audit event by itself, or None."""
    if not isinstance(event, dict):
        return "not a JSON object"
    missing = [f for f in CHAIN_FIELDS if f not in event]
    if missing:
        return f"missing {', '.join(missing)}"
    if not isinstance(event["seq"], int) or event["seq"] < 0:
        return f"bad seq {event['seq']!r}"
    if event_hash(event) != event["hash"]:
        return "content does not match its hash (edited)"
    return None


def verify_chain(events: Iterable[tuple[str, Any]]) -> ChainReport:
    """Check (where, event) pairs in log order; report the first bad one, in log order.

    Events of a producer may reach the log out of order (retried sends), so each chain is
    checked in `seq` order; a fault is then reported at the earliest log position it
    concerns.
    """
    listed = list(events)
    faults: list[tuple[int, ChainFault]] = []
    chains: dict[str, list[tuple[int, int, dict]]] = {}
    for pos, (where, event) in enumerate(listed):
        problem = _problem(event)
        if problem:
            faults.append((pos, ChainFault(where, problem)))
        else:
            chains.setdefault(event["producer"], []).append((event["seq"], pos, event))
    for producer, chain in chains.items():
        chain.sort(key=lambda item: (item[0], item[1]))
        expected_seq, prev_hash = 0, GENESIS
        for seq, pos, event in chain:
            where = listed[pos][0]
            if seq < expected_seq:
                faults.append((pos, ChainFault(where, f"seq {seq} of {producer} repeated")))
                continue
            if seq > expected_seq:
                missing = seq - expected_seq
                faults.append((pos, ChainFault(
                    where, f"seq {seq} of {producer} follows {expected_seq - 1}: "
                           f"{missing} event{'s' * (missing > 1)} missing before it")))
                break
            if event["prev_hash"] != prev_hash:
                faults.append((pos, ChainFault(
                    where, f"prev_hash does not match seq {seq - 1} of {producer}")))
                break
            expected_seq, prev_hash = seq + 1, event["hash"]
    first = min(faults, key=lambda f: f[0])[1] if faults else None
    return ChainReport(events=len(listed), producers=len(chains), fault=first)
