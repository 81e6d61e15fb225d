"""Precision per list and match rule, from the dispositions of hits (`vigil.dispositions`).

Pure computation for `vigil report precision` (cli/report.py): which disposition of a hit
is in force, and the counts and precision per (list, match rule). No Kafka in here, so the
tests give it a known set of records.

Precision is confirmed / (confirmed + false_positive). `no_action` says nothing about
whether the hit was right (the subject was gone, the desk was busy), so it is counted but
left out of the ratio: counting it as wrong would make a busy desk look like a bad list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

OUTCOMES = ("confirmed", "false_positive", "no_action")
FALSE_POSITIVE_REASONS = ("misread", "wrong_subject", "cloned_or_copied", "duplicate", "other")


@dataclass(frozen=True, slots=True)
class Disposition:
    """The fields of one `vigil.dispositions` value that the precision report uses."""

    hit_id: str
    list: str
    match: str
    outcome: str
    reason: str | None
    at_ms: int


@dataclass(frozen=True, slots=True)
class HitSeen:
    """The fields of one `vigil.hits` value that the precision report uses."""

    hit_id: str
    list: str
    match: str
    detected_ms: int


def read_disposition(value: Any) -> Disposition | None:
    """Return the report's fields of one decoded `vigil.dispositions` value, or None when
    it is not a disposition (a field missing or of the wrong type, an unknown outcome).

    The report reads what workers wrote; it does not judge it, so a record it cannot use
    is skipped and counted by the caller rather than stopping the report. A false
    positive whose reason is not one of the contract's is counted under `other`.
    """
    if not isinstance(value, dict):
        return None
    hit_id, list_name, match = value.get("hit_id"), value.get("list"), value.get("match")
    outcome, at = value.get("outcome"), value.get("at")
    if not (isinstance(hit_id, str) and isinstance(list_name, str) and isinstance(match, str)
            and outcome in OUTCOMES and isinstance(at, int) and not isinstance(at, bool)):
        return None
    reason = None
    if outcome == "false_positive":
        given = value.get("reason")
        reason = given if given in FALSE_POSITIVE_REASONS else "other"
    return Disposition(hit_id, list_name, match, outcome, reason, at)


def read_hit(value: Any) -> HitSeen | None:
    """Return the report's fields of one decoded `vigil.hits` value, or None when it is
    not a hit."""
    if not isinstance(value, dict):
        return None
    hit_id, list_name, match = value.get("hit_id"), value.get("list"), value.get("match")
    detected = value.get("detected_ts")
    if not (isinstance(hit_id, str) and isinstance(list_name, str) and isinstance(match, str)
            and isinstance(detected, int) and not isinstance(detected, bool)):
        return None
    return HitSeen(hit_id, list_name, match, detected)


class DispositionsInForce:
    """The disposition in force per hit id, fed the topic's records in log order.

    The latest record of a hit id is the one in force: they share a key, so one partition
    holds them in the order they were written, and compaction keeps that last one too.
    Log order, not `at`, decides, so the report agrees with the compacted topic even when
    two workers' clocks disagree. A tombstone (a record without value) removes the hit's
    disposition, as compaction will.
    """

    def __init__(self) -> None:
        self._latest: dict[str, Disposition] = {}

    def add(self, disposition: Disposition) -> None:
        """Record `disposition` as its hit's one in force, replacing any earlier one."""
        self._latest[disposition.hit_id] = disposition

    def remove(self, hit_id: str) -> None:
        """Forget the disposition of `hit_id` (a tombstone on the topic)."""
        self._latest.pop(hit_id, None)

    def since(self, since_ms: int | None) -> list[Disposition]:
        """Return the dispositions in force recorded at or after `since_ms` (None: all)."""
        return [d for d in self._latest.values() if since_ms is None or d.at_ms >= since_ms]


class HitCounter:
    """Distinct hits per (list, match), fed the records of `vigil.hits`.

    Counts hit ids detected at or after `since_ms` (None: all); a hit written twice (a
    replay after a crash keeps its id) counts once, so every id counted is held: about
    100 bytes a hit.
    """

    def __init__(self, since_ms: int | None) -> None:
        self.since_ms = since_ms
        self._ids: dict[tuple[str, str], set[str]] = {}

    def add(self, hit: HitSeen) -> None:
        """Count `hit` if it was detected in the window."""
        if self.since_ms is None or hit.detected_ms >= self.since_ms:
            self._ids.setdefault((hit.list, hit.match), set()).add(hit.hit_id)

    def counts(self) -> dict[tuple[str, str], int]:
        """Return the distinct hits counted, per (list, match)."""
        return {key: len(ids) for key, ids in self._ids.items()}


def precision(confirmed: int, false_positives: int) -> float | None:
    """Return confirmed / (confirmed + false_positives), or None when both are 0 (no hit
    judged either way: no precision to tell, which is not a precision of 0)."""
    judged = confirmed + false_positives
    return confirmed / judged if judged else None


@dataclass(slots=True)
class PrecisionRow:
    """One list and match rule: its hits, how they were disposed, and its precision.

    `hits` is None when hits were not counted (the report was asked not to read
    `vigil.hits`).
    """

    list: str
    match: str
    hits: int | None = None
    disposed: int = 0
    confirmed: int = 0
    false_positive_by_reason: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(FALSE_POSITIVE_REASONS, 0))
    no_action: int = 0

    @property
    def false_positives(self) -> int:
        """Return the false positives, whatever their reason."""
        return sum(self.false_positive_by_reason.values())

    @property
    def precision(self) -> float | None:
        """Return the row's precision (see `precision`)."""
        return precision(self.confirmed, self.false_positives)

    def as_dict(self) -> dict[str, Any]:
        """Return the row as the JSON object of `vigil report precision --json`."""
        return {"list": self.list, "match": self.match, "hits": self.hits,
                "disposed": self.disposed, "confirmed": self.confirmed,
                "false_positive": self.false_positives,
                "false_positive_by_reason": dict(self.false_positive_by_reason),
                "no_action": self.no_action, "precision": self.precision}


def precision_rows(dispositions: Iterable[Disposition],
                   hits: Mapping[tuple[str, str], int] | None = None) -> list[PrecisionRow]:
    """Return one row per (list, match) of `dispositions` (those in force, already
    filtered by time) and of `hits` (distinct hits per (list, match), None: not counted),
    sorted by list then match. A list with hits and no disposition gets a row of zeros."""
    rows: dict[tuple[str, str], PrecisionRow] = {}

    def row(key: tuple[str, str]) -> PrecisionRow:
        if key not in rows:
            rows[key] = PrecisionRow(*key, hits=None if hits is None else hits.get(key, 0))
        return rows[key]

    for key in hits or {}:
        row(key)
    for d in dispositions:
        r = row((d.list, d.match))
        r.disposed += 1
        if d.outcome == "confirmed":
            r.confirmed += 1
        elif d.outcome == "false_positive":
            r.false_positive_by_reason[d.reason or "other"] += 1
        else:
            r.no_action += 1
    return [rows[key] for key in sorted(rows)]
