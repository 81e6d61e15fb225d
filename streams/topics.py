"""The contract's topics: their names (with the deployment's prefix) and their creation."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from config.settings import Settings
from streams.security import kafka_python_security
from tables.inputs import INPUT_STREAMS

log = logging.getLogger(__name__)

# Short name -> contract name. The short names are what the CLI accepts.
CONTRACT_TOPICS = {
    **{s.name: s.contract_topic for s in INPUT_STREAMS},
    "watchlist": "vigil.watchlist",
    "hits": "vigil.hits",
    "deadletter": "vigil.deadletter",
    "audit": "vigil.audit",
    "dispositions": "vigil.dispositions",
}
# Compacted: each worker reads these whole, and only the latest record of a key matters.
COMPACTED = ("watchlist", "dispositions")
BROKER_CHECK_TOPIC = "vigil.brokercheck"


def app_id(settings: Settings) -> str:
    """Return the deployment's Faust app id, which is also its workers' consumer group."""
    return f"{settings.kafka.topic_prefix}vigil"


def watchlist_audit_group(settings: Settings) -> str:
    """Return the consumer group of the workers' watchlist audit (agents/watchlist_audit.py):
    it has committed a watchlist command once that command is audited."""
    return f"{app_id(settings)}-watchlist-audit"


@dataclass(frozen=True)
class TopicNames:
    """Full topic names for one deployment (the contract's names behind a prefix)."""

    prefix: str

    def __getattr__(self, short: str) -> str:
        try:
            return self.prefix + CONTRACT_TOPICS[short]
        except KeyError:
            raise AttributeError(short) from None

    @staticmethod
    def short_name(name: str) -> str:
        """Return the short name (`sensing`) of a short or contract (`vigil.sensing`) name."""
        for short, contract in CONTRACT_TOPICS.items():
            if name in (short, contract):
                return short
        raise ValueError(f"unknown topic {name!r}: one of {', '.join(CONTRACT_TOPICS)}")

    def resolve(self, name: str) -> str:
        """Return the full name for a short (`sensing`) or contract (`vigil.sensing`) name."""
        return self.prefix + CONTRACT_TOPICS[self.short_name(name)]

    @property
    def broker_check(self) -> str:
        return self.prefix + BROKER_CHECK_TOPIC


def topic_names(settings: Settings) -> TopicNames:
    """Return the topic names of the deployment `settings` describe."""
    return TopicNames(settings.kafka.topic_prefix)


def ensure_topics(bootstrap: str, settings: Settings) -> list[str]:
    """Create every contract topic that does not exist yet; return the names created.

    Input topics get their partition counts from config; `vigil.watchlist` and
    `vigil.dispositions` are compacted (a broker that ignores the setting still works:
    workers read the whole log).
    """
    names = topic_names(settings)
    t = settings.topics
    wanted = [
        NewTopic(names.resolve(short), getattr(t, f"{short}_partitions"), t.replication_factor,
                 topic_configs={"cleanup.policy": "compact"} if short in COMPACTED else {})
        for short in CONTRACT_TOPICS
    ]
    wanted.append(NewTopic(names.broker_check, 1, t.replication_factor))
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-admin",
                             **kafka_python_security(settings))
    try:
        existing = set(admin.list_topics())
        missing = [nt for nt in wanted if nt.name not in existing]
        created = []
        for nt in missing:
            try:
                admin.create_topics([nt])
                created.append(nt.name)
            except TopicAlreadyExistsError:
                pass  # another process created it between list and create
        if created:
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        admin.close()
