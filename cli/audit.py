"""`vigil audit verify`: check the audit trail's chains and signed checkpoints, from the topic
or a file; `vigil audit keygen`: a key to sign checkpoints with (schemas/audit_signing.py)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from config.settings import Settings
from schemas.json import loads


def _audit_from_file(path: str) -> Iterator[tuple[str, Any]]:
    with Path(path).open("rb") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield f"{path}:{n}", loads(line)
                except ValueError:
                    yield f"{path}:{n}", None


def _audit_from_topic(settings: Settings) -> Iterator[tuple[str, Any]]:
    from streams.broker import resolve_bootstrap
    from streams.reader import open_sync_reader
    from streams.readto import FetchedEnds
    from streams.topics import topic_names

    consumer, tps = open_sync_reader(resolve_bootstrap(settings), [topic_names(settings).audit],
                                     client_id="vigil-audit-verify", settings=settings)
    try:
        consumer.seek_to_beginning(*tps)
        ends = FetchedEnds(tps)  # the audit is written in batches of many records
        while True:
            for tp, records in sorted(consumer.poll(timeout_ms=500).items()):
                for r in records:
                    try:
                        value = loads(r.value)
                    except ValueError:
                        value = None
                    yield f"{tp.topic}[{tp.partition}]@{r.offset}", value
            ends.note(consumer.highwater)
            if not ends.unread({tp: consumer.position(tp) for tp in tps}):
                return
    finally:
        consumer.close()


# Exit statuses of `vigil audit verify`: 0 ok, 1 a fault proven, 2 a usage or key error,
# 3 no fault proven but a producer has no checkpoint (its events are not proven).
EXIT_OK, EXIT_BAD, EXIT_USAGE, EXIT_UNPROVEN = 0, 1, 2, 3
CHECKPOINT_METRIC = "vigil_audit_checkpoint_events"


def _public_keys(paths: list[str]) -> dict:
    """Return {key id: public key} of PEM files `paths`; raise ValueError naming a bad one."""
    from schemas.audit_signing import key_id, load_public_key

    keys = {}
    for path in paths:
        try:
            key = load_public_key(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--public-key {path}: {exc}") from None
        keys[key_id(key)] = key
    return keys


def _expected_counts(pairs: list[str], metrics_sources: list[str]) -> dict[str, int]:
    """Return {producer: events expected} from PRODUCER=N pairs and from the
    vigil_audit_checkpoint_events samples of Prometheus text (files, or http(s) URLs such as
    a worker's /metrics); the largest count of a producer wins."""
    from prometheus_client.parser import text_string_to_metric_families

    expect: dict[str, int] = {}

    def note(producer: str, count: int) -> None:
        expect[producer] = max(count, expect.get(producer, 0))

    for pair in pairs:
        producer, sep, count = pair.rpartition("=")
        if not sep or not producer or not count.isdigit():
            raise ValueError(f"--expect-count {pair!r}: give PRODUCER=N")
        note(producer, int(count))
    for source in metrics_sources:
        try:
            if source.startswith(("http://", "https://")):
                import urllib.request

                with urllib.request.urlopen(source, timeout=10) as resp:
                    text = resp.read().decode()
            else:
                text = Path(source).read_text()
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == CHECKPOINT_METRIC and "producer" in sample.labels:
                        note(sample.labels["producer"], int(sample.value))
        except (OSError, ValueError) as exc:
            raise ValueError(f"--expect-metrics {source}: {exc}") from None
    return expect


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Check the audit chains of the topic (or a JSON-lines file), naming the first bad
    event; with --public-key also every checkpoint's signature and what it proves."""
    from schemas.audit import verify_chain
    from schemas.audit_signing import verify_checkpoints

    try:
        keys = _public_keys(args.public_key) if args.public_key else None
        expect = _expected_counts(args.expect_count, args.expect_metrics)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    events = list(_audit_from_file(args.file) if args.file else _audit_from_topic(settings))
    report = verify_chain(events)
    print(report.summary())
    status = EXIT_BAD if report.fault else EXIT_OK
    every = settings.audit.checkpoint_every_events if keys is not None else None
    signing = verify_checkpoints(events, keys, every, expect)
    for line in signing.lines():
        print(line)
    if signing.status == "bad":
        status = EXIT_BAD
    elif signing.status == "unproven" and status == EXIT_OK:
        status = EXIT_UNPROVEN
    return status


def cmd_audit_keygen(settings: Settings, args: argparse.Namespace) -> int:
    """Write a new Ed25519 private key (PEM, mode 0600) to --out and its public key to
    --out.pub; print the public key and its id. Existing files are never overwritten."""
    from schemas.audit_signing import (
        key_id,
        load_private_key,
        new_private_key_pem,
        public_key_pem,
    )

    out = Path(args.out)
    pub = out.with_name(out.name + ".pub")
    for path in (out, pub):
        if path.exists():
            print(f"{path} exists: not overwritten (choose a new name to rotate keys)",
                  file=sys.stderr)
            return EXIT_USAGE
    private_pem = new_private_key_pem()
    public_pem = public_key_pem(load_private_key(private_pem))
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(private_pem)
    pub.write_bytes(public_pem)
    kid = key_id(load_private_key(private_pem).public_key())
    print(f"private key: {out} (mode 0600): set audit.signing_key_file to it on the workers")
    print(f"public key:  {pub} (key id {kid}): give it to vigil audit verify --public-key")
    print(public_pem.decode(), end="")
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add `audit` to the `vigil` parser."""
    a = sub.add_parser("audit", help="the audit trail")
    asub = a.add_subparsers(dest="action", required=True)
    v = asub.add_parser(
        "verify", help="check every chain (name the first bad event) and, with --public-key, "
                       "every signed checkpoint; exit 0 ok, 1 bad, 3 unproven")
    v.add_argument("--file", help="JSON lines of audit events instead of the topic")
    v.add_argument("--public-key", action="append", default=[], metavar="FILE",
                   help="PEM public key the checkpoints are signed with; repeat it for the "
                        "keys of before a rotation")
    v.add_argument("--expect-count", action="append", default=[], metavar="PRODUCER=N",
                   help="PRODUCER wrote at least N events, all covered by a checkpoint (the "
                        "value of its vigil_audit_checkpoint_events); repeatable")
    v.add_argument("--expect-metrics", action="append", default=[], metavar="FILE_OR_URL",
                   help="Prometheus text (a saved scrape, or a worker's /metrics URL) whose "
                        "vigil_audit_checkpoint_events give --expect-count; repeatable")
    v.set_defaults(func=cmd_audit_verify)
    k = asub.add_parser("keygen", help="write a new checkpoint signing key (and FILE.pub)")
    k.add_argument("--out", required=True, metavar="FILE",
                   help="the private key's file (created with mode 0600; never overwritten)")
    k.set_defaults(func=cmd_audit_keygen)
