"""Which watchlist entry is sighted where: fresh (entry, location) pairs and re-sightings.

Suppression (CONTRACT.md, Hit) makes the second hit of an (entry, location) pair within
`alerts.suppress_seconds` disappear, so the planner controls repeats: a share of planted
sightings re-sight an earlier pair, never in the same message and never sooner than
`min_gap_ms` of planned time after it, so that processing order across partitions cannot
reorder two sightings of one pair while the worker keeps up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from schemas.scope import Scope


@dataclass(frozen=True, slots=True)
class Planted:
    """A record the generator placed to match `entry_id`'s key at `location_id` with rule
    `match`: a hit when it is in the entry's `scope` (None: everywhere, always), the
    location belonging to `areas` (as the generator's location commands say)."""

    entry_id: str
    location_id: str
    match: str
    scope: Scope | None = None
    areas: tuple[str, ...] = ()


@dataclass
class PairPlanner:
    """Choose (entry index, location index) pairs for planted records of one stream."""

    rng: np.random.Generator
    entries: int
    locations: int
    repeat_share: float
    min_gap_ms: int
    # (entry, candidate location) -> where that entry is sighted instead (scoped entries
    # inside or outside their places); None: at the candidate.
    place: Callable[[int, int], int] | None = None
    _used: set[tuple[int, int]] = field(default_factory=set)
    _history: deque[tuple[int, tuple[int, int]]] = field(default_factory=deque)
    _ready: list[tuple[int, int]] = field(default_factory=list)

    def pairs(self, count: int, locations: np.ndarray, planned_ms: int) -> list[tuple[int, int]]:
        """Return `count` distinct pairs for one message planned at `planned_ms`.

        `locations` holds one candidate location index per pair (chosen by the caller with
        its load model); a fresh pair keeps it (or where `place` puts its entry) unless that
        pair exists already, a repeat brings its own.
        """
        while self._history and self._history[0][0] <= planned_ms - self.min_gap_ms:
            self._ready.append(self._history.popleft()[1])
        chosen: list[tuple[int, int]] = []
        taken: set[tuple[int, int]] = set()
        for loc in locations:
            pair = None
            if self._ready and self.rng.random() < self.repeat_share:
                candidate = self._ready[int(self.rng.integers(0, len(self._ready)))]
                if candidate not in taken:
                    pair = candidate
            while pair is None:
                entry = int(self.rng.integers(0, self.entries))
                candidate = (entry, self.place(entry, int(loc)) if self.place else int(loc))
                if candidate not in self._used:
                    pair = candidate
                else:  # that pair exists already: another location for this one
                    loc = int(self.rng.integers(0, self.locations))
            self._used.add(pair)
            taken.add(pair)
            chosen.append(pair)
        for pair in chosen:
            self._history.append((planned_ms, pair))
        return chosen
