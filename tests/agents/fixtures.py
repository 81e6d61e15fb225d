"""A complete WorkerContext for agent tests that need no broker."""

from __future__ import annotations

from typing import Any

from agents.audit import AuditTrail
from agents.context import WorkerContext
from agents.metrics import build_metrics
from config.settings import Settings, load_settings
from streams.delivery import deliver
from streams.topics import topic_names
from tables.locations import LocationDirectory
from tables.suppression import Suppression
from tables.watchlist import Watchlist


def make_context(settings: Settings | None = None, **overrides: Any) -> WorkerContext:
    """Return a context whose output topics are the names "HITS", "DLQ" and "AUDIT" (tests
    compare `Outgoing.topic` with them) and no suppression, with `overrides` applied."""
    settings = settings or load_settings(env={})
    metrics = overrides.pop("metrics", None) or build_metrics()
    locations = LocationDirectory()
    fields: dict[str, Any] = {
        "settings": settings, "bootstrap": "x:1", "topics": topic_names(settings),
        "metrics": metrics, "one_record_per_batch": True, "hits_topic": "HITS",
        "deadletter_topic": "DLQ", "audit": AuditTrail("AUDIT", metrics.audit_events, 0),
        "deliver": deliver, "watchlist": Watchlist(locations=locations), "locations": locations,
        "suppression": Suppression(0),
    }
    return WorkerContext(**{**fields, **overrides})
