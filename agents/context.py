"""What every agent, task and page of a worker shares: settings, topics, outputs, state,
metrics. Complete when built (agents/app.py builds it with the app's output topics)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from agents.audit import AuditTrail
from agents.faults import Deliver
from agents.metrics import Metrics
from config.settings import Settings
from streams.delivery import Destination
from streams.topics import TopicNames
from tables.locations import LocationDirectory
from tables.suppression import Suppression
from tables.watchlist import Watchlist


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker knows before its app exists: settings, broker, topics, metrics."""

    settings: Settings
    bootstrap: str
    topics: TopicNames
    metrics: Metrics
    one_record_per_batch: bool
    # Set once the matching kernels are compiled or loaded from numba's cache: a worker
    # warms them up in a thread during its start (cli/worker.py), ready only after.
    kernels_ready: threading.Event = field(default_factory=threading.Event, kw_only=True)


@dataclass(frozen=True)
class WorkerContext(WorkerSetup):
    """State and wiring of one worker process, handed to every agent at registration."""

    hits_topic: Destination
    deadletter_topic: Destination
    # Every audit write goes through it (agents/audit.py).
    audit: AuditTrail
    # Delivers a batch's outputs: streams.delivery.deliver, or a crash point's (agents/faults.py).
    deliver: Deliver
    watchlist: Watchlist
    suppression: Suppression
    # Set once the global watchlist reader has caught up with the topic's end.
    watchlist_loaded: asyncio.Event = field(default_factory=asyncio.Event)
    # Held while a checkpoint writes the watchlist's arrays: nothing may change them then.
    watchlist_saving: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Set once the consumer group has given this worker its first assignment (empty or not):
    # it matches only from then on, so it is ready only then (web/health.py).
    group_joined: asyncio.Event = field(default_factory=asyncio.Event)
    # Set once the hits of the look-back period have been read into `suppression`; unset
    # again at each partition assignment until the hits written up to then have been read
    # (agents/suppression.py).
    suppression_loaded: asyncio.Event = field(default_factory=asyncio.Event)
    # Asks the hits reader to catch up with the hits topic's end as it is now.
    suppression_resync: asyncio.Event = field(default_factory=asyncio.Event)
    # Location id to areas, from `vigil.locations` (agents/locations.py).
    locations: LocationDirectory = field(default_factory=LocationDirectory)
    # Set once the global locations reader has caught up with the topic's end.
    locations_loaded: asyncio.Event = field(default_factory=asyncio.Event)
