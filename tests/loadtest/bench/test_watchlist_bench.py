"""The pure parts of `vigil loadtest watchlist-bench`: its arithmetic, what it parses from a
worker, the entries it writes, its goals and its command line."""

from __future__ import annotations

import math

import numpy as np
import pytest
from prometheus_client import generate_latest

from agents.metrics import build_metrics
from cli.main import build_parser
from loadtest.bench import watchlist_bench_figures as fig
from loadtest.bench.watchlist_bench_io import WATCHLIST_MAC_BASE, numbered_entries
from schemas.clock import now_ms
from schemas.json import loads
from schemas.watchlist import WatchlistEntry, decode_watchlist_command

MIB = 1 << 20


def test_rss_per_entry_is_the_difference_over_the_entries() -> None:
    assert fig.rss_bytes_per_entry(1_094 * MIB, 254 * MIB, 1_000_000) == pytest.approx(880.8,
                                                                                      abs=0.1)
    assert fig.rss_bytes_per_entry(100, 250, 10) == -15.0  # noise shows, it is not hidden
    with pytest.raises(ValueError):
        fig.rss_bytes_per_entry(100, 50, 0)


def test_p99_interpolates_like_the_bench_and_is_none_without_values() -> None:
    values = [float(v) for v in range(1, 101)]
    assert fig.p99(values) == pytest.approx(float(np.percentile(values, 99))) == 99.01
    assert fig.p99([0.5]) == 0.5
    assert fig.p99([]) is None


def test_only_the_latencies_observed_in_the_window_count() -> None:
    pairs = [(999.0, 9.0), (1000.0, 0.1), (1500.0, 0.2), (2000.0, 0.3), (2001.0, 7.0)]
    assert fig.in_window(pairs, 1000, 2000) == [0.1, 0.2, 0.3]


def _metrics_text(pauses: list[float], entries: int = 0, commands: int = 0,
                  audited: int = 0) -> str:
    m = build_metrics()
    for pause in pauses:
        m.gc_pause.labels("0" if pause < 0.01 else "2").observe(pause)
    m.watchlist_entries.labels("wanted-persons").set(entries - entries // 4)
    m.watchlist_entries.labels("stolen-vehicles").set(entries // 4)
    m.watchlist_commands.labels("upsert").inc(commands)
    m.audit_events.labels("watchlist_change").inc(audited)
    m.audit_events.labels("ack").inc(5)  # not a watchlist command
    return generate_latest(m.registry).decode()


def test_metrics_give_entries_commands_audits_and_gc_buckets() -> None:
    m = fig.parse_metrics(_metrics_text([0.0002, 0.03], entries=1000, commands=7, audited=6))
    assert (m.entries, m.commands, m.audited) == (1000, 7, 6)
    assert m.gc_buckets[math.inf] == 2 and m.gc_buckets[0.001] == 1
    assert fig.parse_metrics("").gc_buckets == {}


def test_the_longest_gc_pause_is_the_bound_of_its_bucket_between_two_readings() -> None:
    before = fig.parse_metrics(_metrics_text([0.3, 0.0002])).gc_buckets
    after = fig.parse_metrics(_metrics_text([0.3, 0.0002, 0.0003, 0.04])).gc_buckets
    assert fig.gc_max_pause_s(before, after) == 0.05  # the 0.3 s came before
    assert fig.gc_max_pause_s({}, after) == 0.5
    assert fig.gc_max_pause_s(after, after) is None  # no collection in between
    assert fig.gc_max_pause_s({}, {}) is None
    longest = fig.parse_metrics(_metrics_text([3.0])).gc_buckets
    assert fig.gc_max_pause_s({}, longest) == math.inf
    assert fig.rounded(math.inf) is None and fig.rounded(0.123456) == 0.1235


def test_proc_status_memory_lines_in_bytes() -> None:
    text = "Name:\tpython\nVmPeak:\t 2000 kB\nVmHWM:\t  1500 kB\nVmRSS:\t  1200 kB\nThreads:\t9\n"
    assert fig.parse_status(text) == {"VmPeak": 2000 * 1024, "VmHWM": 1500 * 1024,
                                      "VmRSS": 1200 * 1024}


def test_the_last_watchlist_loaded_line_of_a_log() -> None:
    log = ("[t] INFO agents.watchlist: watchlist loaded: 0 entries from x.vigil.watchlist in "
           "0.01s (3 objects frozen out of garbage collection)\n"
           "[t] INFO agents.watchlist: watchlist loaded: 200000 entries from x.vigil.watchlist "
           "in 4.67s (9 objects frozen out of garbage collection)\n")
    assert fig.loaded_from_log(log) == (200_000, 4.67)
    assert fig.loaded_from_log("no such line") is None


def _result(**changes: object) -> dict:
    result = {"entries": 10, "rss_bytes_per_entry": 150, "read_entries_per_s": 200_000,
              "cold_start_s": 9.0, "warm_start_s": 5, "bulk_load_entries_per_s": 100_000,
              "match_p99_during_load_s": 1.0, "missed_hits": 0, "unexpected_hits": 0,
              "gc_max_pause_s": 0.01, "load_average": {"start": [1.0, 1, 1], "end": [2.0, 1, 1]},
              "commit": "abc1234", "notes": ["a note"]}
    return {**result, **changes}


def test_goals_are_met_at_their_bounds_and_not_past_them_or_without_a_figure() -> None:
    assert all(fig.goals_met(_result()).values())
    assert set(fig.goals_met(_result())) == set(fig.GOALS)
    missed = fig.goals_met(_result(rss_bytes_per_entry=150.1, read_entries_per_s=199_999,
                                   warm_start_s=5.01, bulk_load_entries_per_s=None,
                                   match_p99_during_load_s=1.2, missed_hits=1))
    assert not any(missed.values())


def test_the_summary_names_every_figure_its_goal_and_the_notes() -> None:
    result = _result(rss_bytes_per_entry=967.3)
    result["goals_met"] = fig.goals_met(result)
    text = fig.summary(result)
    for name in fig.FIELDS[1:]:
        assert name in text
    assert "rss_bytes_per_entry" in text and "967" in text and "NOT met" in text
    assert "note: a note" in text and "abc1234" in text


def test_numbered_entries_are_valid_distinct_and_avoid_the_given_macs() -> None:
    avoid = [f"{WATCHLIST_MAC_BASE + 3:012x}", "8abcdef01234"]
    made = list(numbered_entries(b"W-T", WATCHLIST_MAC_BASE, 50, now_ms() + 86_400_000,
                                 avoid))
    assert len(made) == 50 and len({key for key, _ in made}) == 50
    keys = set()
    for key, line in made:
        entry = decode_watchlist_command(line, key, now_ms(), 90)
        assert isinstance(entry, WatchlistEntry), entry
        assert entry.entry_id == key.decode()
        keys.add(loads(line)["key"])
    assert len(keys) == 50 and avoid[0] not in keys


@pytest.mark.parametrize(("text", "entries"), [("2000", 2000), ("2e6", 2_000_000)])
def test_the_verb_takes_entries_plainly_or_as_powers_of_ten(text: str, entries: int) -> None:
    args = build_parser().parse_args(["loadtest", "watchlist-bench", "--entries", text])
    assert args.entries == entries and args.bulk is None and args.json is None


@pytest.mark.parametrize("text", ["0", "1.5", "-3", "lots"])
def test_the_verb_refuses_what_is_not_a_positive_whole_number(text: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["loadtest", "watchlist-bench", "--entries", text])
