"""The watchlist audit in a process of its own (`main`), started by a worker
(agents/watchlist_audit_process.py).

A bulk load makes the audit as busy as the worker's watchlist reader (each command fetched,
decoded, sealed into an audit chain and written), and in the worker's process both shared
one core: the load was applied after 9-10 s and audited after 17-20 s (10^6 commands,
watchlist-bench). Here the audit runs beside the reader (below it: NICENESS), with its own
audit chain (a producer id per process, as every chain has) and its own clients; the
consumer is the same `WatchlistAudit` service, in the same consumer group.

The worker writes one pickled `ChildSetup` on the child's stdin (8-byte length first) and
keeps stdin open. To stop the child it writes STOP and closes stdin (or sends SIGTERM): the
child lets the batch it is writing finish and commit. Stdin ending without STOP means the
worker is gone (killed): the child exits at once, as if killed with it (at-least-once: the
partitions' next owner audits again what was not committed), so that nothing outlives it.

On stdout the child writes a JSON line every REPORT_EVERY_S: the watchlist partitions it
audits (`owned`, null while unknown: the worker audits the expiries of those) and its
metrics (agents/metric_mirror.py). Logs go to stderr, which is the worker's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pickle
import signal
import sys
from dataclasses import dataclass
from typing import BinaryIO

import orjson

from agents.audit import build_audit_trail
from agents.metric_mirror import collect_report
from agents.metrics import build_metrics
from agents.watchlist_audit import AuditContext, WatchlistAudit
from config.settings import Settings
from streams.output_producers import OutputProducers
from streams.topics import topic_names

log = logging.getLogger("vigil.watchlist_audit_child")

REPORT_EVERY_S = 0.25
# The child's metrics its worker exports (the families WatchlistAudit and its trail set).
MIRRORED = ("vigil_rejected", "vigil_audit_events", "vigil_consumer_lag_messages",
            "vigil_audit_checkpoint_events")
_LENGTH_BYTES = 8
STOP = b"stop\n"
# Below the worker: when the cores are short (a bulk load, its loader and the broker on two
# cores), matching comes first and the audit catches up on what is left over.
NICENESS = 5


@dataclass(frozen=True)
class ChildSetup:
    """What the worker hands its audit child."""

    settings: Settings
    bootstrap: str  # resolved (an embedded broker's address)
    one_record_per_batch: bool  # the worker's broker check


def encode_setup(setup: ChildSetup) -> bytes:
    """Return `setup` as the child reads it from stdin."""
    blob = pickle.dumps(setup)
    return len(blob).to_bytes(_LENGTH_BYTES, "big") + blob


def read_setup(fd: int) -> ChildSetup:
    """Read the worker's `ChildSetup` from `fd`, unbuffered (the rest of stdin is watched
    for its end)."""
    length = int.from_bytes(_read_exactly(fd, _LENGTH_BYTES), "big")
    setup = pickle.loads(_read_exactly(fd, length))  # written by our own worker
    if not isinstance(setup, ChildSetup):
        raise TypeError(f"expected a ChildSetup on stdin, got {type(setup).__name__}")
    return setup


def _read_exactly(fd: int, n: int) -> bytes:
    parts, left = [], n
    while left:
        part = os.read(fd, left)
        if not part:
            raise EOFError("stdin ended before the audit child's setup")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


async def run_child(setup: ChildSetup, out: BinaryIO) -> None:
    """Run the watchlist audit until stdin ends or SIGTERM; report on `out`."""
    s = setup.settings
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    metrics = build_metrics()
    producers = OutputProducers(setup.bootstrap, setup.one_record_per_batch, settings=s)
    await producers.start()
    topics = topic_names(s)
    trail = build_audit_trail(producers.topic(topics.audit, one_writer_per_partition=False),
                              s, metrics)
    log.info("watchlist audit child: audit chain %s", trail.chain.producer)
    ctx = AuditContext(settings=s, bootstrap=setup.bootstrap, topics=topics,
                       metrics=metrics, audit=trail,
                       deadletter_topic=producers.topic(topics.deadletter,
                                                        one_writer_per_partition=False))
    audit = WatchlistAudit(ctx)
    gc.freeze()  # the imports' objects: collections then walk only the batches' own
    await audit.start()

    def report() -> None:
        owned = audit.owned()
        out.write(orjson.dumps({"owned": None if owned is None else sorted(owned),
                                "metrics": collect_report(metrics.registry, MIRRORED)}) + b"\n")
        out.flush()

    async def reporting() -> None:
        while True:
            report()
            await asyncio.sleep(REPORT_EVERY_S)

    async def checkpoints() -> None:
        while True:
            await asyncio.sleep(s.audit.checkpoint_every_s)
            await trail.write_checkpoint()

    async def stdin_end() -> None:
        if not (await stdin.read()).endswith(STOP):
            log.warning("watchlist audit child: its worker is gone; exiting now")
            os._exit(1)
        stop.set()

    tasks = [asyncio.ensure_future(t) for t in (reporting(), stdin_end(), checkpoints())]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await audit.stop()  # the batch being written finishes and is committed
        with contextlib.suppress(Exception):
            await trail.write_checkpoint()  # the chain's tail signed (with a signing key)
            report()
        await producers.stop()


def main() -> None:
    """Entry point of the child process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the worker, which stops us
    os.nice(NICENESS)
    setup = read_setup(sys.stdin.fileno())
    logging.basicConfig(level=setup.settings.worker.log_level.upper(), stream=sys.stderr,
                        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    # Nothing else may write the report stream.
    sys.stdout = sys.stderr
    asyncio.run(run_child(setup, out))

