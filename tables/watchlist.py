"""The watchlist as every worker holds it: entries by id, matched through a WatchlistIndex."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator

import numpy as np

from schemas.normalize import DOC_TYPES, ID_TYPE_CODES, canonical_plate
from schemas.watchlist import WatchlistEntry
from tables.index import WatchlistIndex

# Key spaces: a record matches an entry only within one space, so a MAC never equals an
# e-tag with the same characters and an exact plate entry never matches through the OCR
# classes. Device spaces are the binary batch's id_type codes (1-4).
PLATE_SPACE = 5
PLATE_OCR_SPACE = 6
DOC_SPACES: dict[str, int] = {t: 7 + i for i, t in enumerate(DOC_TYPES)}


def entry_space_and_key(entry: WatchlistEntry) -> tuple[int, str]:
    """Return the key space and key `entry` is indexed under (canonical when OCR-tolerant)."""
    if entry.subject_type == "device":
        return ID_TYPE_CODES[entry.kind], entry.key
    if entry.subject_type == "document":
        return DOC_SPACES[entry.kind], entry.key
    if entry.match == "ocr-tolerant":
        return PLATE_OCR_SPACE, canonical_plate(entry.key)
    return PLATE_SPACE, entry.key


class Watchlist:
    """Entries by id, and the numba index that matches batches against them.

    `secret` keys the index's hash (a random one per process by default: each worker
    builds its own index, so nothing needs to agree on it); `hash_bits` < 64 is a test mode.
    """

    def __init__(self, secret: bytes | None = None, hash_bits: int = 64) -> None:
        self._entries: dict[str, WatchlistEntry] = {}
        self._secret, self._hash_bits = secret or secrets.token_bytes(16), hash_bits
        self._index = WatchlistIndex(self._secret, hash_bits)
        # Kept at zero once a list empties, so its gauge drops to 0 instead of going stale.
        self._per_list: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[WatchlistEntry]:
        return iter(self._entries.values())

    @property
    def nbytes(self) -> int:
        """Bytes held by the matching index."""
        return self._index.nbytes

    def entries_by_list(self) -> dict[str, int]:
        """Return how many entries each list holds (lists seen before and now empty: 0)."""
        return dict(self._per_list)

    def clear(self) -> None:
        """Forget every entry at once (the log they were read from is gone)."""
        self._entries.clear()
        self._index = WatchlistIndex(self._secret, self._hash_bits)
        for name in self._per_list:
            self._per_list[name] = 0

    def get(self, entry_id: str) -> WatchlistEntry | None:
        """Return the entry with `entry_id`, or None."""
        return self._entries.get(entry_id)

    def upsert(self, entry: WatchlistEntry) -> WatchlistEntry | None:
        """Insert or replace `entry`; return the entry it replaced, if any."""
        before = self._entries.get(entry.entry_id)
        if before is not None:
            self._per_list[before.list] -= 1
        space, key = entry_space_and_key(entry)
        self._index.upsert(entry.entry_id, space, key.encode("utf-8"), entry.expires_at)
        self._entries[entry.entry_id] = entry
        self._per_list[entry.list] += 1
        return before

    def delete(self, entry_id: str) -> WatchlistEntry | None:
        """Remove the entry with `entry_id`; return it, or None when there was none."""
        before = self._entries.pop(entry_id, None)
        if before is not None:
            self._per_list[before.list] -= 1
            self._index.delete(entry_id)
        return before

    def match(self, spaces: np.ndarray, words: np.ndarray, now_ms: int
              ) -> list[tuple[int, WatchlistEntry]]:
        """Return (row, entry) for every key row equal to a live entry's key, in row order
        and by entry id within a row. Expiry is checked here, at match time, so no timer
        lag lets an expired entry hit."""
        rows, slots = self._index.match(spaces, words, now_ms)
        found = [(int(r), self._entries[self._index.entry_id(int(s))])
                 for r, s in zip(rows, slots, strict=True)]
        found.sort(key=lambda pair: (pair[0], pair[1].entry_id))
        return found

    def expired(self, now_ms: int) -> list[WatchlistEntry]:
        """Return the entries whose expires_at <= now_ms (still held until deleted)."""
        return [self._entries[i] for i in self._index.expired(now_ms)]
