"""The worker's side of its watchlist audit child (agents/watchlist_audit_child.py): start
it with the worker, restart it when it ends, stop it with the worker; learn from its reports
which watchlist partitions it audits (for the expiry audits) and export its metrics."""

from __future__ import annotations

import asyncio
import logging
import sys

import orjson
from mode import Service

from agents.context import WorkerContext
from agents.metric_mirror import MetricMirror
from agents.watchlist_audit import STOP_WAIT_S
from agents.watchlist_audit_child import STOP, ChildSetup, encode_setup
from streams.restarting import keep_running

log = logging.getLogger(__name__)

# Beyond the child's own wait for its last batch: its clients' stop.
STOP_GRACE_S = STOP_WAIT_S + 5.0
# Not `-m`: run as __main__, the module's ChildSetup would not be the class pickled here.
CHILD_MAIN = "from agents.watchlist_audit_child import main; main()"
# A report is a few kilobytes; a line longer than this is no report.
REPORT_LIMIT_BYTES = 1 << 20


class WatchlistAuditProcess(Service):
    """The watchlist audit child of this worker, as a service started with the worker's app."""

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__()
        self.ctx = ctx
        m = ctx.metrics
        self._mirror = MetricMirror(
            {"vigil_rejected": m.rejected, "vigil_audit_events": m.audit_events,
             "vigil_consumer_lag_messages": m.consumer_lag,
             "vigil_audit_checkpoint_events": m.audit_checkpoint_events},
            kept=("vigil_audit_checkpoint_events",))
        self._owned: frozenset[int] | None = None
        self._child: asyncio.subprocess.Process | None = None
        self._stopping = False

    def owned(self) -> frozenset[int] | None:
        """Return the watchlist partitions this worker's child audits, None while unknown."""
        return self._owned

    async def on_start(self) -> None:
        """Start the child (started again after it ends, unless the worker is stopping)."""
        self.add_future(keep_running("watchlist audit child", self._run))

    async def on_stop(self) -> None:
        """Stop the child: the end of its stdin lets it finish the batch it is writing."""
        self._stopping = True
        child = self._child
        if child is not None:
            await _end(child)

    async def _run(self) -> None:
        if self._stopping:
            await asyncio.Event().wait()  # until cancelled: nothing to restart
        ctx = self.ctx
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD_MAIN,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=REPORT_LIMIT_BYTES)
        self._child = child
        assert child.stdin is not None and child.stdout is not None
        log.info("watchlist audit child started: pid %d", child.pid)
        try:
            child.stdin.write(encode_setup(ChildSetup(ctx.settings, ctx.bootstrap,
                                                      ctx.one_record_per_batch)))
            await child.stdin.drain()
            async for line in child.stdout:
                report = orjson.loads(line)
                owned = report["owned"]
                self._owned = None if owned is None else frozenset(owned)
                self._mirror.apply(report["metrics"])
            code = await child.wait()
            if not self._stopping:
                raise RuntimeError(f"the watchlist audit child ended (exit code {code})")
        finally:
            self._owned = None
            self._mirror.restart()
            if child.returncode is None:
                await _end(child)
            self._child = None


async def _end(child: asyncio.subprocess.Process) -> None:
    """Ask the child to stop (STOP, then the end of its stdin) and wait for it to end; kill
    it if it takes too long."""
    if child.stdin is not None and not child.stdin.is_closing():
        child.stdin.write(STOP)
        child.stdin.close()
    try:
        await asyncio.wait_for(child.wait(), STOP_GRACE_S)
    except TimeoutError:
        log.warning("watchlist audit child %d did not stop in %.0f s: killed", child.pid,
                    STOP_GRACE_S)
        child.kill()
        await child.wait()
