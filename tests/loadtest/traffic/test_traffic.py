"""The generator's ground truth against the reference matcher, on the same records."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from loadtest.traffic.groundtruth import (
    ExpectedHit,
    build_watchlist,
    check_hits,
    planted_hits,
    planted_out_of_scope,
    reference_hits,
    suppress,
)
from loadtest.traffic.scoping import HOURS_ZONES
from loadtest.traffic.traffic import STREAMS, TrafficGenerator, TrafficSpec
from schemas.json import loads
from schemas.normalize import canonical_plate
from tables.scope_reference import in_scope_py

START_MS = 1_795_000_000_000
SPEC = TrafficSpec(seed=11, watchlist_size=3_000, hit_rate=0.03, malformed_share=0.01,
                   ocr_noise_rate=0.5, repeat_share=0.4, repeat_min_gap_s=0.2, devices=20_000,
                   sensors=50, cameras=20, properties=30)
SCOPED = replace(SPEC, scoped_share=0.3)
SUPPRESS_MS = 1_000


def _run(stream: str, spec: TrafficSpec = SPEC, count: int = 60, batch: int = 200):
    """Send `count` messages on paper, 100 ms apart; return (generator view, reference view,
    rejections the decoders found, records the generator broke)."""
    planted, reference, rejected, broken, _ = _run_scoped(stream, spec, count, batch)
    return planted, reference, rejected, broken


def _run_scoped(stream: str, spec: TrafficSpec, count: int = 60, batch: int = 200):
    """As `_run`, also returning (planted sightings out of scope, the same counted by the
    reference matcher); its watchlist reads the generator's location commands."""
    gen = TrafficGenerator(spec, START_MS)
    watchlist = build_watchlist(gen.commands, START_MS, 90, gen.location_commands)
    planted, reference, rejected = [], [], []
    broken = out_of_scope = 0
    for i, msg in enumerate(gen.messages(stream, count, batch, rate=batch * 10)):
        ts = START_MS + 1_000 + 100 * i
        broken += msg.broken
        planted += planted_hits(msg, ts)
        out_of_scope += planted_out_of_scope(msg, ts)
        found, bad = reference_hits(watchlist, msg, msg.stamped(ts), ts)
        reference += found
        rejected += bad
    return planted, reference, rejected, broken, (out_of_scope, watchlist.out_of_scope)


@pytest.mark.parametrize("stream", STREAMS)
def test_planted_hits_are_exactly_what_the_reference_matcher_finds(stream: str) -> None:
    planted, reference, rejected, broken = _run(stream)
    assert len(planted) > 100
    assert {(h.hit_id, h.match) for h in planted} == {(h.hit_id, h.match) for h in reference}
    assert Counter(h.hit_id for h in reference) == Counter(h.hit_id for h in planted)
    assert broken > 0 and len(rejected) == broken, "each broken record, and only it, rejected"
    kept = suppress(planted, SUPPRESS_MS)
    assert 0 < len(kept) < len(planted), "repeats within the window were suppressed"
    assert {h.hit_id for h in kept} == {h.hit_id for h in suppress(reference, SUPPRESS_MS)}


@pytest.mark.parametrize("stream", STREAMS)
def test_scoped_entries_hit_exactly_where_the_reference_matcher_finds_them(stream: str) -> None:
    planted, reference, _, _, (out_of_scope, counted) = _run_scoped(stream, SCOPED)
    assert {(h.hit_id, h.match) for h in planted} == {(h.hit_id, h.match) for h in reference}
    assert Counter(h.hit_id for h in reference) == Counter(h.hit_id for h in planted)
    assert out_of_scope > 10 and counted == out_of_scope, "each sighting out of scope dropped"
    kept = suppress(planted, SUPPRESS_MS)
    assert {h.hit_id for h in kept} == {h.hit_id for h in suppress(reference, SUPPRESS_MS)}


def _scope_kind(scope) -> str:
    return "locations" if scope.locations else "areas" if scope.areas else "hours"


def test_every_kind_of_scope_is_sighted_both_inside_and_outside() -> None:
    gen = TrafficGenerator(SCOPED, START_MS)
    outcomes = Counter()
    for stream in STREAMS:
        for i, msg in enumerate(gen.messages(stream, 60, 200, rate=2_000)):
            ts = START_MS + 1_000 + 100 * i
            outcomes.update((_scope_kind(p.scope), in_scope_py(p.scope, p.location_id, p.areas, ts))
                            for p in msg.planted if p.scope is not None)
    for kind in ("locations", "areas", "hours"):
        assert outcomes[kind, True] > 5 and outcomes[kind, False] > 5, (kind, outcomes)


def test_scoped_share_of_entries_with_every_kind_and_both_zones_same_keys_as_unscoped() -> None:
    scoped = TrafficGenerator(SCOPED, START_MS)
    plain = TrafficGenerator(SPEC, START_MS)
    with_scope = [c for c in scoped.commands if "scope" in c]
    assert len(with_scope) == pytest.approx(0.3 * len(scoped.commands), abs=3)
    assert {z for c in with_scope if (z := c["scope"].get("tz"))} == set(HOURS_ZONES)
    assert {next(iter(c["scope"])) for c in with_scope} == {"locations", "areas", "hours"}
    assert [{k: v for k, v in c.items() if k != "scope"} for c in scoped.commands] == plain.commands
    assert not any("scope" in c for c in plain.commands)
    kinds = Counter(c["kind"] for c in scoped.location_commands)
    assert set(kinds) == {"sensor", "camera", "property"} and all(c["areas"] for c in
                                                                   scoped.location_commands)


def test_plate_noise_gives_ocr_tolerant_hits_and_near_misses() -> None:
    planted, *_ = _run("plates")
    matches = Counter(h.match for h in planted)
    assert matches["exact"] and matches["ocr-tolerant"]


def test_same_seed_same_traffic_other_seed_other_traffic() -> None:
    def values(seed: int) -> list[bytes]:
        gen = TrafficGenerator(TrafficSpec(seed=seed, watchlist_size=500, devices=1000), START_MS)
        return [m.value for s in STREAMS for m in gen.messages(s, 3, 50, 500)]

    assert values(3) == values(3)
    assert values(3) != values(4)


def test_watchlist_has_every_subject_and_distinct_keys() -> None:
    gen = TrafficGenerator(TrafficSpec(watchlist_size=2_000, devices=1000), START_MS)
    by_subject = Counter(c["subject_type"] for c in gen.commands)
    assert set(by_subject) == {"device", "plate", "document"}
    plates = [c["key"] for c in gen.commands if c["subject_type"] == "plate"]
    assert len({canonical_plate(p) for p in plates}) == len(plates)
    assert {c["match"] for c in gen.commands if "match" in c} == {"exact", "ocr-tolerant"}
    assert len({c["entry_id"] for c in gen.commands}) == len(gen.commands) == 2_000
    devices = [(c["id_type"], c["key"]) for c in gen.commands if c["subject_type"] == "device"]
    assert len(set(devices)) == len(devices)


def test_heavy_tailed_resighting() -> None:
    gen = TrafficGenerator(TrafficSpec(devices=10_000, hit_rate=0, malformed_share=0), START_MS)
    seen = Counter()
    for msg in gen.messages("sensing_json", 20, 1000, 10_000):
        seen.update(r["device_id"].lower().replace(":", "") for r in loads(msg.value))
    counts = sorted(seen.values(), reverse=True)
    top_share = sum(counts[:100]) / sum(counts)
    assert top_share > 0.05, "the 1% most seen devices carry far more than 1% of sightings"
    assert sum(1 for c in counts if c == 1) > len(counts) / 3, "most devices are seen rarely"


def _hit(hit_id: str, entry: str, loc: str, ts: int) -> ExpectedHit:
    return ExpectedHit(hit_id, entry, loc, ts, "exact", "plates")


def test_suppression_counts_from_the_last_hit_per_entry_and_location() -> None:
    hits = [_hit("a", "W1", "C1", 0), _hit("b", "W1", "C1", 999), _hit("c", "W1", "C1", 1000),
            _hit("d", "W1", "C2", 500), _hit("e", "W2", "C1", 500)]
    assert [h.hit_id for h in suppress(hits, 1000)] == ["a", "d", "e", "c"]
    assert len(suppress(hits, 0)) == 5


def test_check_hits_counts_missed_unexpected_and_duplicates() -> None:
    check = check_hits(["a", "b", "c"], ["a", "a", "c", "x"])
    assert (check.expected_hits, check.received_hits, check.missed_hits, check.unexpected_hits,
            check.duplicates, check.distinct_hits) == (3, 4, 1, 1, 1, 3)
    assert check.missed_examples == ("b",) and not check.ok
    assert check.duplicate_examples == ("a",) and check.unexpected_examples == ("x",)
    assert check_hits(["a"], ["a"]).ok


def test_a_repeated_hit_fails_the_check_unless_duplicates_are_allowed() -> None:
    # The bench fails on a repeat; the fault runs (at-least-once after a kill) count it.
    assert not check_hits(["a", "b"], ["a", "b", "a"]).ok
    allowed = check_hits(["a", "b"], ["a", "b", "a"], duplicates_allowed=True)
    assert allowed.ok and allowed.duplicates == 1 and allowed.distinct_hits == 2
    assert not check_hits(["a", "b"], ["a", "a"], duplicates_allowed=True).ok  # b missed
    assert not check_hits(["a"], ["a", "x"], duplicates_allowed=True).ok  # x unexpected
