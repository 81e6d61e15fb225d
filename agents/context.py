"""What every agent of a worker shares: settings, topics, state, metrics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from faust.types import TopicT

from agents.audit import AuditTrail
from agents.faults import CrashPoint
from agents.metrics import Metrics
from config.settings import Settings
from streams.delivery import Destination
from streams.topics import TopicNames
from tables.suppression import Suppression
from tables.watchlist import Watchlist


@dataclass
class WorkerContext:
    """State and wiring of one worker process, handed to every agent at registration."""

    settings: Settings
    bootstrap: str
    topics: TopicNames
    metrics: Metrics
    one_record_per_batch: bool
    watchlist: Watchlist = field(default_factory=Watchlist)
    # Set once the global watchlist reader has caught up with the topic's end.
    watchlist_loaded: asyncio.Event = field(default_factory=asyncio.Event)
    # The watchlist partition each entry was last written to: its expiry is audited by the
    # worker whose audit agent owns that partition.
    entry_partitions: dict[str, int] = field(default_factory=dict)
    suppression: Suppression = field(default_factory=lambda: Suppression(0))
    # Set once the hits of the look-back period have been read into `suppression`; unset
    # again at each partition assignment until the hits written up to then have been read
    # (agents/suppression.py).
    suppression_loaded: asyncio.Event = field(default_factory=asyncio.Event)
    # Asks the hits reader to catch up with the hits topic's end as it is now.
    suppression_resync: asyncio.Event = field(default_factory=asyncio.Event)
    # Where the fault tests make this worker kill itself (agents/faults.py); none by default.
    crash: CrashPoint = field(default_factory=lambda: CrashPoint(None))
    # Output topics, bound to the Faust app when it is created.
    hits_topic: Destination | None = None
    deadletter_topic: Destination | None = None
    audit_topic: TopicT | None = None
    # Every audit write goes through it (agents/audit.py), bound with the audit topic.
    audit: AuditTrail | None = None
