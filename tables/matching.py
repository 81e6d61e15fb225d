"""Find the hits in a decoded batch: whole batches through the index, no broker involved."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from schemas.checkins import CheckIn
from schemas.hits import Hit, make_hit_id
from schemas.normalize import OCR_CLASSES
from schemas.plates import PlateRead
from schemas.sensing import SensingBatch
from tables.index import key_words
from tables.watchlist import DOC_SPACES, EntryView, Watchlist

# Byte map to each OCR class's representative; the classes are ASCII, and in UTF-8 an ASCII
# byte is always that character, so mapping bytes canonicalises whole plates at once.
_CANONICAL = np.arange(256, dtype=np.uint8)
for _cls in OCR_CLASSES:
    _CANONICAL[[ord(c) for c in _cls[1:]]] = ord(_cls[0])


def _hit(entry: EntryView, source: str, location_id: str, observed_ts: int, match: str,
         observed: dict[str, str], detected_ts: int) -> Hit:
    return Hit(
        hit_id=make_hit_id(entry.entry_id, source, location_id, observed_ts),
        entry_id=entry.entry_id, list=entry.list, priority=entry.priority, source=source,
        location_id=location_id, observed_ts=observed_ts, detected_ts=detected_ts, match=match,
        observed=observed,
    )


def find_sensing_hits(batch: SensingBatch, watchlist: Watchlist, now_ms: int) -> list[Hit]:
    """Return the hits of device sightings in `batch` (exact match on id type and device id)."""
    if len(batch) == 0:
        return []
    words = np.ascontiguousarray(batch.device_id).view(np.uint64).reshape(len(batch), -1)
    hits = []
    for i, entry in watchlist.match(batch.id_type, words, now_ms, batch.ts, batch.location_id):
        hits.append(_hit(entry, "sensing", batch.location_id(i), int(batch.ts[i]), "exact",
                         {"id_type": batch.id_type_name(i), "device_id": batch.device_id_str(i)},
                         now_ms))
    return hits


def find_plate_hits(reads: Sequence[PlateRead], watchlist: Watchlist, now_ms: int) -> list[Hit]:
    """Return the hits of plate reads: exact entries on the normalised plate, OCR-tolerant
    entries on its canonical form (reported as `exact` when the normalised read equals the key).
    """
    if not reads:
        return []
    exact = key_words([r.plate_norm.encode("utf-8") for r in reads])
    canonical = _CANONICAL[exact.view(np.uint8)].view(np.uint64)
    return [_hit(entry, "plate", reads[i].camera_id, reads[i].ts, rule,
                 {"plate": reads[i].plate}, now_ms)
            for i, entry, rule in watchlist.match_plates(
                exact, canonical, now_ms, np.array([r.ts for r in reads], np.int64),
                lambda i: reads[i].camera_id)]


def find_checkin_hits(checkins: Sequence[CheckIn], watchlist: Watchlist, now_ms: int) -> list[Hit]:
    """Return the hits of rental check-ins (exact match on document type and number)."""
    if not checkins:
        return []
    spaces = np.array([DOC_SPACES[c.doc_type] for c in checkins], np.uint8)
    words = key_words([c.doc_number.encode("utf-8") for c in checkins])
    return [_hit(entry, "checkin", c.property_id, c.ts, "exact",
                 {"doc_type": c.doc_type, "doc_number": c.doc_number}, now_ms)
            for row, entry in watchlist.match(
                spaces, words, now_ms, np.array([c.ts for c in checkins], np.int64),
                lambda i: checkins[i].property_id)
            for c in (checkins[row],)]
