"""Find the hits in a decoded batch: plain functions over the watchlist, no broker involved."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.checkins import CheckIn
from schemas.hits import Hit, make_hit_id
from schemas.normalize import canonical_plate
from schemas.plates import PlateRead
from schemas.sensing import SensingBatch
from schemas.watchlist import WatchlistEntry
from tables.watchlist import OCR_SUBJECT, Watchlist


def _hit(entry: WatchlistEntry, source: str, location_id: str, observed_ts: int, match: str,
         observed: dict[str, str], detected_ts: int) -> Hit:
    return Hit(
        hit_id=make_hit_id(entry.entry_id, source, location_id, observed_ts),
        entry_id=entry.entry_id, list=entry.list, priority=entry.priority, source=source,
        location_id=location_id, observed_ts=observed_ts, detected_ts=detected_ts, match=match,
        observed=observed,
    )


def find_sensing_hits(batch: SensingBatch, watchlist: Watchlist, now_ms: int) -> list[Hit]:
    """Return the hits of device sightings in `batch` (exact match on id type and device id)."""
    hits = []
    for i in range(len(batch)):
        id_type, device_id = batch.id_type_name(i), batch.device_id_str(i)
        for entry in watchlist.lookup(("device", id_type, device_id), now_ms):
            hits.append(_hit(entry, "sensing", batch.location_id(i), int(batch.ts[i]), "exact",
                             {"id_type": id_type, "device_id": device_id}, now_ms))
    return hits


def find_plate_hits(reads: Sequence[PlateRead], watchlist: Watchlist, now_ms: int) -> list[Hit]:
    """Return the hits of plate reads: exact entries on the normalised plate, OCR-tolerant
    entries on its canonical form (reported as `exact` when the normalised read equals the key).
    """
    hits = []
    for r in reads:
        exact = watchlist.lookup(("plate", "", r.plate_norm), now_ms)
        tolerant = watchlist.lookup((OCR_SUBJECT, "", canonical_plate(r.plate_norm)), now_ms)
        for entry in sorted(exact + tolerant, key=lambda e: e.entry_id):
            match = "exact" if entry.key == r.plate_norm else "ocr-tolerant"
            hits.append(_hit(entry, "plate", r.camera_id, r.ts, match, {"plate": r.plate}, now_ms))
    return hits


def find_checkin_hits(checkins: Sequence[CheckIn], watchlist: Watchlist, now_ms: int) -> list[Hit]:
    """Return the hits of rental check-ins (exact match on document type and number)."""
    hits = []
    for c in checkins:
        for entry in watchlist.lookup(("document", c.doc_type, c.doc_number), now_ms):
            hits.append(_hit(entry, "checkin", c.property_id, c.ts, "exact",
                             {"doc_type": c.doc_type, "doc_number": c.doc_number}, now_ms))
    return hits
