"""Signed checkpoints of the audit chain: tamper-evidence against the trail's own writers.

Whoever can write `vigil.audit` can rewrite a chain (schemas/audit.py) and recompute its
hashes, or drop its newest events. So a worker that has a signing key also seals an
`audit_checkpoint` event into its chain after every `audit.checkpoint_every_events` events
and at least every `audit.checkpoint_every_s` seconds: an Ed25519 signature over the chain's
head (the seq and hash of the last event it covers) and the count of events so far. The
head hash commits to every event before it, so without the private key:

- rewriting a covered event, chain recomputed, leaves a checkpoint whose signed head is not
  the chain's: the events since the last checkpoint that verifies are named;
- removing events before a checkpoint leaves a gap, or (renumbered) a checkpoint whose
  signed count is not its place in the chain;
- removing a checkpoint breaks the chain, or (recomputed) the next checkpoint, or leaves
  more than `checkpoint_every_events` events in a row without one;
- removing the newest events with their checkpoints shows against the count last signed
  (the metric `vigil_audit_checkpoint_events`, given to the verifier as an expected count);
- events after the newest checkpoint are not signed yet: they are reported as unproven.

A checkpoint names its key by id (the first 16 hex digits of the SHA-256 of the raw public
key), so checkpoints signed before a key rotation verify with the old public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from schemas.audit import AuditChain, ChainFault

CHECKPOINT_TYPE = "audit_checkpoint"
# What the signature covers, in this canonical form: the domain line, then these fields as
# compact JSON with sorted keys.
SIGNED_FIELDS = ("producer", "covers_seq", "covers_hash", "count", "at", "key_id")
SIGNING_DOMAIN = b"vigil audit checkpoint v1\n"
# Fault lines a report prints at most; the rest are counted.
MAX_FAULT_LINES = 20


# -- keys ----------------------------------------------------------------------------------
def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the id a checkpoint names its key by: SHA-256 of the raw public key, 16 hex."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def new_private_key_pem() -> bytes:
    """Return a new Ed25519 private key as unencrypted PKCS#8 PEM."""
    return Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """Return the Ed25519 private key in `pem`; raise ValueError for anything else."""
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"a {type(key).__name__}, not an Ed25519 private key")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """Return the Ed25519 public key in `pem`; raise ValueError for anything else."""
    if b"PRIVATE KEY" in pem:
        raise ValueError("a private key: give its public key (the .pub file vigil audit "
                         "keygen wrote)")
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"a {type(key).__name__}, not an Ed25519 public key")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """Return the public key (of a private key) as SubjectPublicKeyInfo PEM."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


# -- signing -------------------------------------------------------------------------------
def signed_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    """Return the bytes a checkpoint's signature is over (KeyError if a field is missing)."""
    fields = {f: checkpoint[f] for f in SIGNED_FIELDS}
    return SIGNING_DOMAIN + orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


class CheckpointSigner:
    """Signs checkpoints with one private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.key_id = key_id(private_key.public_key())

    def checkpoint(self, producer: str, head: tuple[int, str], at_ms: int) -> dict[str, Any]:
        """Return the (unsealed) checkpoint event over a chain whose newest event is `head`."""
        seq, head_hash = head
        event = {"type": CHECKPOINT_TYPE, "producer": producer, "covers_seq": seq,
                 "covers_hash": head_hash, "count": seq + 1, "at": at_ms, "key_id": self.key_id}
        event["signature"] = base64.b64encode(self._key.sign(signed_bytes(event))).decode()
        return event

    def seal_checkpoint(self, chain: AuditChain, at_ms: int) -> dict[str, Any] | None:
        """Seal a checkpoint over `chain`'s head into it and return it (None: empty chain)."""
        head = chain.head
        return None if head is None else chain.seal(self.checkpoint(chain.producer, head, at_ms))


# -- verifying -----------------------------------------------------------------------------
def signature_problem(checkpoint: dict[str, Any],
                      keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    """Return why `checkpoint` is not signed by one of `keys` (by key id), or None."""
    missing = [f for f in (*SIGNED_FIELDS, "signature") if f not in checkpoint]
    if missing:
        return f"checkpoint without {', '.join(missing)}"
    seq, count = checkpoint["covers_seq"], checkpoint["count"]
    if type(seq) is not int or type(count) is not int or seq < 0 or not isinstance(
            checkpoint["signature"], str):
        return "malformed checkpoint (covers_seq, count or signature of the wrong type)"
    key = keys.get(checkpoint["key_id"])
    if key is None:
        return (f"signed with key id {checkpoint['key_id']!r}, not one of the public keys "
                f"given ({', '.join(sorted(keys))})")
    try:
        key.verify(base64.b64decode(checkpoint["signature"], validate=True),
                   signed_bytes(checkpoint))
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        return "signature does not verify: the checkpoint was edited or forged"
    if count != seq + 1:
        return f"signed count {count} is not its head seq {seq} + 1"
    return None


@dataclass(frozen=True)
class ProducerSigning:
    """What the checkpoints of one producer's chain prove."""

    producer: str
    events: int  # events present (distinct seqs)
    checkpoints: int  # checkpoints that verified
    proven: int  # events covered by the newest checkpoint that verified (seq 0..proven-1)
    unsigned: int  # events after the newest checkpoint that verified (all, with none)
    failed: int = 0  # checkpoints that did not verify

    def line(self) -> str:
        """Return one line for the operator."""
        if not self.checkpoints:
            return (f"unsigned: producer {self.producer}: {self.events} events, no checkpoint "
                    f"that verifies: none of them is proven")
        tail = ""
        if self.failed:
            tail = (f"; {self.failed} checkpoints fail: the {self.unsigned} events after the "
                    f"newest that verifies are not proven")
        elif self.unsigned:
            tail = f"; the {self.unsigned} newer events are not signed yet"
        return (f"signed: producer {self.producer}: {self.events} events, {self.checkpoints} "
                f"checkpoints verify, seq 0..{self.proven - 1} proven{tail}")


@dataclass(frozen=True)
class SigningReport:
    """The result of checking the checkpoints of a log of audit events."""

    key_ids: tuple[str, ...]  # the public keys given; empty: signatures not checked
    producers: tuple[ProducerSigning, ...]
    faults: tuple[ChainFault, ...]
    unchecked: int  # checkpoints present but not checked (no keys given)

    @property
    def status(self) -> str:
        """`bad` (a fault is proven), `unproven` (a producer has no checkpoint) or `ok`."""
        if self.faults:
            return "bad"
        if self.key_ids and any(p.events and not p.checkpoints for p in self.producers):
            return "unproven"
        return "ok"

    def lines(self) -> list[str]:
        """Return the report for the operator, one fact a line, the verdict last."""
        out = [f"bad: {f.where}: {f.problem}" for f in self.faults[:MAX_FAULT_LINES]]
        if len(self.faults) > MAX_FAULT_LINES:
            out.append(f"bad: ... and {len(self.faults) - MAX_FAULT_LINES} more faults")
        if not self.key_ids:
            if self.unchecked:
                out.append(f"note: {self.unchecked} checkpoints not checked (no --public-key)")
            return out
        out += [p.line() for p in self.producers]
        keys = ", ".join(self.key_ids)
        if self.status == "ok":
            out.append(f"ok: every checkpoint verifies (keys {keys})")
        elif self.status == "unproven":
            n = sum(1 for p in self.producers if p.events and not p.checkpoints)
            out.append(f"unproven: no fault found, but {n} producers have no checkpoint: their "
                       f"events may have been rewritten (keys {keys})")
        return out


def _events_by_producer(events: Iterable[tuple[str, Any]]
                        ) -> dict[str, dict[int, tuple[str, dict]]]:
    """Return {producer: {seq: (where, event)}}, the first event of each seq; events without
    chain fields are left to verify_chain."""
    chains: dict[str, dict[int, tuple[str, dict]]] = {}
    for where, event in events:
        if isinstance(event, dict) and isinstance(event.get("producer"), str) \
                and type(event.get("seq")) is int and event["seq"] >= 0:
            chains.setdefault(event["producer"], {}).setdefault(event["seq"], (where, event))
    return chains


def _placement_problem(cp: dict, seq: int, seqs: list[int], by_seq: dict[int, tuple[str, dict]],
                       first_unproven: int, producer: str) -> str | None:
    """Return why a validly signed checkpoint at `seq` does not sign the chain before it."""
    count, head = cp["count"], cp["covers_seq"]
    if count != seq:
        change = (f"{count - seq} events before it were removed" if count > seq
                  else f"{seq - count} events were inserted before it")
        return (f"signed for the {count} events before it, but it is seq {seq} of {producer}: "
                f"{change} and the chain renumbered")
    present = bisect_left(seqs, seq)
    if present < count:
        return (f"signed for {count} events of {producer}, only {present} of them are present: "
                f"{count - present} removed")
    where_head, event = by_seq[head]
    if event.get("hash") != cp["covers_hash"]:
        where_first = by_seq[first_unproven][0]
        return (f"events seq {first_unproven}..{head} of {producer} ({where_first} to "
                f"{where_head}) were rewritten after they were signed (chain recomputed): the "
                f"checkpoint signed head hash {cp['covers_hash'][:16]}..., the chain has "
                f"{str(event.get('hash'))[:16]}...")
    return None


def _check_producer(producer: str, by_seq: dict[int, tuple[str, dict]],
                    keys: Mapping[str, Ed25519PublicKey] | None, every_events: int | None,
                    expected: int | None) -> tuple[ProducerSigning, list[ChainFault], int]:
    seqs = sorted(by_seq)
    faults: list[ChainFault] = []
    unchecked = good = proven = failed = 0
    last_good_seq = -1
    run = 0  # events since the last checkpoint
    rewritten: list[tuple[str, str]] = []  # checkpoints whose signed head the chain lost
    for seq in seqs:
        where, event = by_seq[seq]
        if event.get("type") != CHECKPOINT_TYPE:
            run += 1
            if keys is not None and every_events and run == every_events + 1:
                faults.append(ChainFault(where, (
                    f"{run} events of {producer} without a checkpoint (one follows every "
                    f"{every_events}): a checkpoint was removed")))
            continue
        run = 0
        if keys is None:
            unchecked += 1
            continue
        problem = signature_problem(event, keys) or _placement_problem(
            event, seq, seqs, by_seq, last_good_seq + 1, producer)
        if problem is None:
            good, proven, last_good_seq = good + 1, event["count"], seq
        elif "were rewritten" in problem:
            failed += 1
            rewritten.append((where, problem))
        else:
            failed += 1
            faults.append(ChainFault(where, problem))
    if rewritten:  # each later checkpoint's head commits to the first rewrite too
        where, problem = rewritten[0]
        more = len(rewritten) - 1
        faults.append(ChainFault(where, problem + (
            f" (and {more} later checkpoints do not match either)" if more else "")))
    if expected is not None:
        if len(seqs) < expected:
            faults.append(ChainFault(f"producer {producer}", (
                f"truncated: {expected} events expected, {len(seqs)} present")))
        elif keys is not None and proven < expected:
            faults.append(ChainFault(f"producer {producer}", (
                f"no checkpoint that verifies covers the {expected} events expected (the newest "
                f"covers {proven}): checkpoints were removed; events from seq {proven} on are "
                f"unproven")))
    unsigned = sum(1 for s in seqs if s > last_good_seq)
    return ProducerSigning(producer, len(seqs), good, proven, unsigned, failed), faults, unchecked


def verify_checkpoints(events: Iterable[tuple[str, Any]],
                       keys: Mapping[str, Ed25519PublicKey] | None,
                       every_events: int | None = None,
                       expect: Mapping[str, int] | None = None) -> SigningReport:
    """Check the checkpoints of (where, event) pairs (chains themselves: verify_chain).

    `keys`: public keys by key id (None: signatures are not checked, checkpoints counted);
    `every_events`: the workers' `audit.checkpoint_every_events`, so more events than that
    in a row without a checkpoint are a fault; `expect`: {producer: events it is known to
    have written}, e.g. the metric vigil_audit_checkpoint_events: fewer present is a
    truncation and, with keys, no checkpoint that verifies covering them a removal.
    """
    expect = dict(expect or {})
    chains = _events_by_producer(events)
    producers, faults, unchecked = [], [], 0
    for producer in sorted(chains.keys() | expect.keys()):
        p, f, u = _check_producer(producer, chains.get(producer, {}), keys, every_events,
                                  expect.get(producer))
        producers.append(p)
        faults += f
        unchecked += u
    return SigningReport(tuple(sorted(keys)) if keys is not None else (), tuple(producers),
                         tuple(faults), unchecked)
