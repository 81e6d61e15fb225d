"""Which hits a run must produce: from what the generator planted, and from a reference
matcher over the records themselves; and how the hits read back compare.

A planted sighting of a scoped entry must hit only inside the entry's scope (CONTRACT.md,
Entry scope): `planted_hits` asks the plain-Python `in_scope_py` at the time the record was
sent, independently of the product's matcher, which `reference_hits` runs.

Suppression (CONTRACT.md, Hit) is applied here, in the harness, the same way for both:
after a hit for (entry_id, location_id), sightings of that pair within `suppress_ms` of
the hit's observed time give no new hit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from loadtest.traffic.planting import Planted
from loadtest.traffic.traffic import STREAM_SOURCE, Message
from schemas.hits import Hit, make_hit_id
from schemas.json import dumps
from schemas.locations import LocationUpsert, decode_location_command
from schemas.rejection import Rejected
from schemas.watchlist import WatchlistEntry, decode_watchlist_command
from tables.inputs import input_stream
from tables.locations import LocationDirectory
from tables.scope_reference import in_scope_py
from tables.watchlist import Watchlist

EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class ExpectedHit:
    """A hit a run must produce, and the stream whose record should cause it."""

    hit_id: str
    entry_id: str
    location_id: str
    observed_ts: int
    match: str
    stream: str


def _in_scope(planted: Planted, ts_ms: int) -> bool:
    return in_scope_py(planted.scope, planted.location_id, planted.areas, ts_ms)


def planted_hits(message: Message, ts_ms: int) -> list[ExpectedHit]:
    """Return the hits the generator planted in `message`, sent with timestamp `ts_ms`:
    its planted sightings inside their entry's scope."""
    source = STREAM_SOURCE[message.stream]
    return [ExpectedHit(make_hit_id(p.entry_id, source, p.location_id, ts_ms), p.entry_id,
                        p.location_id, ts_ms, p.match, message.stream)
            for p in message.planted if _in_scope(p, ts_ms)]


def planted_out_of_scope(message: Message, ts_ms: int) -> int:
    """Return how many planted sightings in `message`, sent with timestamp `ts_ms`, match
    an entry's key outside its scope: each must give no hit and count as out of scope."""
    return sum(not _in_scope(p, ts_ms) for p in message.planted)


def suppress(hits: Iterable[ExpectedHit], suppress_ms: int) -> list[ExpectedHit]:
    """Drop the hits suppression removes; return the rest in observed-time order."""
    last_hit: dict[tuple[str, str], int] = {}
    kept = []
    for h in sorted(hits, key=lambda h: h.observed_ts):
        pair = (h.entry_id, h.location_id)
        previous = last_hit.get(pair)
        if previous is not None and h.observed_ts - previous < suppress_ms:
            continue
        last_hit[pair] = h.observed_ts
        kept.append(h)
    return kept


def build_watchlist(commands: Iterable[dict], reference_ms: int, max_ttl_days: int,
                    location_commands: Iterable[dict] = ()) -> Watchlist:
    """Decode upsert commands as a worker would and return the watchlist they make, its
    scoped entries checked against the locations that `location_commands` upsert."""
    directory = LocationDirectory()
    for c in location_commands:
        location = decode_location_command(dumps(c), c["location_id"].encode())
        if not isinstance(location, LocationUpsert):
            raise ValueError(f"generated location command refused: {location}")
        directory.upsert(location)
    entries = []
    for c in commands:
        entry = decode_watchlist_command(dumps(c), c["entry_id"].encode(), reference_ms,
                                         max_ttl_days)
        if not isinstance(entry, WatchlistEntry):
            raise ValueError(f"generated command refused: {entry}")
        entries.append(entry)
    watchlist = Watchlist(locations=directory)
    watchlist.apply(entries)  # one batch: a lone upsert pays the batch path's fixed cost
    return watchlist


def reference_hits(watchlist: Watchlist, message: Message, value: bytes, ts_ms: int
                   ) -> tuple[list[ExpectedHit], list[Rejected]]:
    """Decode a sent message with the contract's decoders and match it the plain way
    (`tables.matching`, expiry judged at observed time); return its hits and rejections."""
    stream = input_stream(message.topic)
    ctype = dict(message.headers).get("content-type")
    records, rejected = stream.decode(value, ctype.decode() if ctype else None)
    found: list[Hit] = stream.find_hits(records, watchlist, ts_ms)
    hits = [ExpectedHit(h.hit_id, h.entry_id, h.location_id, h.observed_ts, h.match,
                        message.stream) for h in found]
    return hits, rejected


@dataclass(frozen=True)
class HitCheck:
    """Expected hit ids against those read back.

    A hit read more than once always carries the same hit_id, so a subscriber that
    de-duplicates by hit_id sees it once. Whether such a repeat fails the check is
    `duplicates_allowed`, the one rule the callers differ on:

    - the bench (`loadtest.bench.report`) kills no worker (others only join), so a repeat
      is a record matched twice: it fails the run (False);
    - the fault runs (`loadtest.faults.checked`: crash, scale-out) kill workers between
      sending a batch's hits and committing its records, and at-least-once delivery then
      reads those records, and sends their hits, again: repeats are counted, not failed
      (True).
    """

    expected_hits: int = 0
    received_hits: int = 0  # every hit read, repeats included
    missed_hits: int = 0
    unexpected_hits: int = 0
    duplicates: int = 0  # reads beyond the first of each hit_id
    missed_examples: tuple[str, ...] = ()
    unexpected_examples: tuple[str, ...] = ()
    duplicate_examples: tuple[str, ...] = ()
    duplicates_allowed: bool = False

    @property
    def distinct_hits(self) -> int:
        """The hit_ids read, each counted once."""
        return self.received_hits - self.duplicates

    @property
    def ok(self) -> bool:
        """True when every expected hit arrived and nothing else did, each once unless
        `duplicates_allowed`."""
        return not (self.missed_hits or self.unexpected_hits
                    or (self.duplicates and not self.duplicates_allowed))

    def line(self) -> str:
        """The figures in one line."""
        return (f"hits expected {self.expected_hits}, received {self.distinct_hits}, missed "
                f"{self.missed_hits}, unexpected {self.unexpected_hits}, duplicated "
                f"{self.duplicates} (same hit_id)")


def check_hits(expected_ids: Iterable[str], received_ids: Iterable[str], *,
               duplicates_allowed: bool = False) -> HitCheck:
    """Compare the expected hit ids with the ids read back (in arrival order)."""
    expected = set(expected_ids)
    counts = Counter(received_ids)
    missed = sorted(expected - counts.keys())
    unexpected = sorted(counts.keys() - expected)
    duplicate = sorted(h for h, n in counts.items() if n > 1)
    return HitCheck(
        expected_hits=len(expected), received_hits=sum(counts.values()),
        missed_hits=len(missed), unexpected_hits=len(unexpected),
        duplicates=sum(n - 1 for n in counts.values()),
        missed_examples=tuple(missed[:EXAMPLES]), unexpected_examples=tuple(unexpected[:EXAMPLES]),
        duplicate_examples=tuple(duplicate[:EXAMPLES]), duplicates_allowed=duplicates_allowed,
    )
