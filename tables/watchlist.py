"""The watchlist as every worker holds it: entries by id, and an index by match key."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from schemas.normalize import canonical_plate
from schemas.watchlist import WatchlistEntry

MatchKey = tuple[str, str, str]


# OCR-tolerant entries live in their own key space, under the canonical form of their key,
# so that an exact entry never matches through the confusion classes.
OCR_SUBJECT = "plate~ocr"


def index_key(entry: WatchlistEntry) -> MatchKey:
    """Return the key `entry` is indexed under (its canonical form when OCR-tolerant)."""
    if entry.match == "ocr-tolerant":
        return (OCR_SUBJECT, entry.kind, canonical_plate(entry.key))
    return entry.match_key


class Watchlist:
    """Entries by id, plus a match-key index kept in step with every upsert and delete.

    Plain dicts: correct and simple; the numba index replaces the lookup side later
    without changing this interface.
    """

    def __init__(self) -> None:
        self._entries: dict[str, WatchlistEntry] = {}
        self._index: dict[MatchKey, set[str]] = {}
        # Kept at zero once a list empties, so its gauge drops to 0 instead of going stale.
        self._per_list: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[WatchlistEntry]:
        return iter(self._entries.values())

    def entries_by_list(self) -> dict[str, int]:
        """Return how many entries each list holds (lists seen before and now empty: 0)."""
        return dict(self._per_list)

    def get(self, entry_id: str) -> WatchlistEntry | None:
        """Return the entry with `entry_id`, or None."""
        return self._entries.get(entry_id)

    def upsert(self, entry: WatchlistEntry) -> WatchlistEntry | None:
        """Insert or replace `entry`; return the entry it replaced, if any."""
        before = self.delete(entry.entry_id)
        self._entries[entry.entry_id] = entry
        self._index.setdefault(index_key(entry), set()).add(entry.entry_id)
        self._per_list[entry.list] += 1
        return before

    def delete(self, entry_id: str) -> WatchlistEntry | None:
        """Remove the entry with `entry_id`; return it, or None when there was none."""
        before = self._entries.pop(entry_id, None)
        if before is not None:
            self._per_list[before.list] -= 1
            key = index_key(before)
            ids = self._index[key]
            ids.discard(entry_id)
            if not ids:
                del self._index[key]
        return before

    def lookup(self, key: MatchKey, now_ms: int) -> list[WatchlistEntry]:
        """Return the live entries indexed under `key`, sorted by entry id.

        Expiry is checked here, at match time, so no timer lag lets an expired entry hit.
        """
        ids = self._index.get(key)
        if not ids:
            return []
        found = [self._entries[i] for i in ids]
        return sorted((e for e in found if e.expires_at > now_ms), key=lambda e: e.entry_id)
