"""Every audit event Vigil writes, built in one place: what each type records, and what
it never records (tokens, and nothing of a record that matched no entry).

`schemas/audit.py` then seals events into per-producer chains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas.dispositions import Disposition
from schemas.hits import Hit
from schemas.locations import LocationDelete, LocationUpsert
from schemas.rejection import Rejected
from schemas.scope import encode_scope
from schemas.watchlist import WatchlistDelete, WatchlistEntry

Event = dict[str, Any]


def entry_view(entry: Any) -> dict[str, Any]:
    """Return what an audit event records of an entry's state (`scope` null: unscoped): a
    command's, or what a worker holds of an entry (no key: the key is in the audit event of
    the command that set it, and on the watchlist topic)."""
    scope = getattr(entry, "scope", None)
    view = {"list": entry.list, "subject_type": entry.subject_type, "kind": entry.kind,
            "match": entry.match, "priority": entry.priority, "expires_at": entry.expires_at,
            "scope": None if scope is None else encode_scope(scope)}
    key = getattr(entry, "key", None)
    if key is not None:
        view["key"] = key
    return view


def watchlist_record_event(command: WatchlistEntry | WatchlistDelete | Rejected | None,
                           key: bytes | None, source: dict[str, Any], at_ms: int) -> Event:
    """Return the audit event of a watchlist topic record: the change, the refusal, or a
    compaction tombstone (`command` None)."""
    if command is None:
        # Workers honour tombstones (after compaction the log says the entry is gone
        # anyway), but nobody is named for them: record that plainly.
        return {"type": "watchlist_change", "at": at_ms, "op": "tombstone",
                "entry_id": key.decode("utf-8", "replace") if key else None,
                "requested_by": None, "source": source}
    if isinstance(command, Rejected):
        return topic_refusal_event(command, source, at_ms)
    if isinstance(command, WatchlistDelete):
        return {"type": "watchlist_change", "at": at_ms, "op": "delete",
                "entry_id": command.entry_id, "requested_by": command.requested_by,
                "reason": command.reason, "source": source}
    return {"type": "watchlist_change", "at": at_ms, "op": "upsert", "entry_id": command.entry_id,
            "requested_by": command.requested_by, "legal_basis": command.legal_basis,
            "after": entry_view(command), "source": source}


def topic_refusal_event(rejected: Rejected, source: dict[str, Any], at_ms: int) -> Event:
    """Return the audit event of a command refused on its topic (it changed nothing)."""
    return {"type": "request_refused", "at": at_ms, "channel": "topic",
            "reason": rejected.reason, "detail": rejected.detail, "source": source}


def location_record_event(command: LocationUpsert | LocationDelete | Rejected | None,
                          key: bytes | None, source: dict[str, Any], at_ms: int) -> Event:
    """Return the audit event of a `vigil.locations` record: the change, the refusal, or a
    compaction tombstone (`command` None). Location commands name no requester."""
    if isinstance(command, Rejected):
        return topic_refusal_event(command, source, at_ms)
    event: Event = {"type": "location_change", "at": at_ms}
    if command is None:
        event.update(op="tombstone", location_id=key.decode("utf-8", "replace") if key else None)
    elif isinstance(command, LocationDelete):
        event.update(op="delete", location_id=command.location_id)
    else:
        event.update(op="upsert", location_id=command.location_id,
                     after={"kind": command.kind, "areas": list(command.areas),
                            "lat": command.lat, "lon": command.lon, "name": command.name})
    event["source"] = source
    return event


def expiry_event(entry: Any, at_ms: int) -> Event:
    """Return the audit event of an entry's expiry; `audit_id` is the same on every worker
    and every run, so a duplicate written across a rebalance is recognisable."""
    return {"type": "watchlist_expiry", "at": at_ms, "entry_id": entry.entry_id,
            "list": entry.list, "expires_at": entry.expires_at,
            "audit_id": f"expiry:{entry.entry_id}:{entry.expires_at}"}


def refusal_summary_event(*, remote: str, reason: str, status: int, count: int,
                          first_at: int, last_at: int, sample: dict[str, Any],
                          at_ms: int) -> Event:
    """Return the audit event of the HTTP requests from `remote` refused for `reason` in one
    interval: how many, when, and the first as a `sample` (method, path, detail, subscriber,
    each cut short by the caller). Tokens are never recorded."""
    return {"type": "requests_refused", "at": at_ms, "channel": "http", "remote": remote,
            "reason": reason, "status": status, "count": count, "first_at": first_at,
            "last_at": last_at, "sample": sample}


def ack_event(hit: Hit, subscriber: str, at_ms: int) -> Event:
    """Return the audit event of a subscriber's ack of a hit."""
    return {"type": "ack", "at": at_ms, "subscriber": subscriber, "hit_id": hit.hit_id,
            "entry_id": hit.entry_id, "list": hit.list, "priority": hit.priority}


def disposition_event(disposition: Disposition, replaced: bool) -> Event:
    """Return the audit event of a subscriber's disposition of a hit (`replaced`: a
    disposition was in force before it)."""
    d = disposition
    return {"type": "disposition", "at": d.at, "subscriber": d.by, "hit_id": d.hit_id,
            "entry_id": d.entry_id, "list": d.list, "priority": d.priority,
            "outcome": d.outcome, "reason": d.reason, "note": d.note, "replaced": replaced}


def edit_request_event(*, subscriber: str, op: str, entry_id: str,
                       before: Any, after: dict[str, Any] | None,
                       at_ms: int) -> Event:
    """Return the audit event of an editor's accepted watchlist edit over HTTP."""
    return {"type": "edit_request", "at": at_ms, "channel": "http", "subscriber": subscriber,
            "op": op, "entry_id": entry_id, "before": entry_view(before) if before else None,
            "after": after}


def hits_delivered_event(hits: Sequence[Hit], subscriber: str, at_ms: int) -> Event:
    """Return the audit event of one write of `hits` to a subscriber's stream: their ids in
    the order written, and the lists they are on."""
    return {"type": "hits_delivered", "at": at_ms, "subscriber": subscriber,
            "count": len(hits), "hit_ids": [h.hit_id for h in hits],
            "lists": sorted({h.list for h in hits})}
