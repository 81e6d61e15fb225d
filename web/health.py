"""The operator's pages: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.context import WorkerContext


def register_health(app: faust.App, ctx: WorkerContext) -> None:
    """Register /healthz, /readyz and /metrics."""

    @app.page("/healthz")
    async def healthz(self, request):
        return self.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(self, request):
        # Matching waits for the watchlist and the locations read and the recent hits read
        # for suppression (again briefly after each partition assignment), and happens only
        # once the group has been joined (which the readers do not wait for); a batch
        # before the kernels' warm-up ends would wait for its compilation.
        hits = ctx.suppression_loaded.is_set()
        locations = ctx.locations_loaded.is_set()
        joined = ctx.group_joined.is_set()
        kernels = ctx.kernels_ready.is_set()
        ready = ctx.watchlist_loaded.is_set() and locations and hits and joined and kernels
        body = {"ready": ready, "watchlist_entries": len(ctx.watchlist), "hits_caught_up": hits,
                "locations_loaded": locations, "locations": len(ctx.locations),
                "group_joined": joined, "kernels_ready": kernels}
        return self.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics(self, request):
        return self.bytes(generate_latest(ctx.metrics.registry),
                          content_type=CONTENT_TYPE_LATEST.split(";")[0])

