"""Bench and overload options from the command line into a BenchConfig."""

from __future__ import annotations

from cli.main import build_parser
from loadtest.bench.benchconfig import LONG, OVERLOAD, config_from_args, overload_config
from loadtest.traffic.surge import Surge


def _args(*argv: str):
    return build_parser().parse_args(["loadtest", *argv])


def test_bench_without_surge_has_none() -> None:
    assert config_from_args(_args("bench", "--duration", "90"), 300).surge is None


def test_bench_surge_defaults_to_a_third_of_the_duration_for_a_minute() -> None:
    cfg = config_from_args(_args("bench", "--duration", "90", "--surge", "4"), 300)
    assert cfg.surge == Surge(factor=4.0, at_s=30.0, for_s=60.0)
    cfg = config_from_args(_args("bench", "--surge", "2", "--surge-at", "5",
                                 "--surge-for", "7"), 300)
    assert cfg.surge == Surge(2.0, 5.0, 7.0) and cfg.duration_s == LONG.duration_s


def test_overload_preset_and_its_overrides() -> None:
    cfg = overload_config(_args("overload"))
    assert cfg == OVERLOAD
    assert OVERLOAD.surge is not None
    rate = OVERLOAD.rates["checkins"]
    # The surge is at least three times what the normal rate is half of (the sustainable).
    assert rate * OVERLOAD.surge.factor >= 3 * (2 * rate)
    cfg = overload_config(_args("overload", "--rate", "1000", "--factor", "3", "--duration",
                                "50", "--surge-at", "10", "--surge-for", "20", "--seed", "9"))
    assert cfg.rates == {"checkins": 1000.0} and cfg.duration_s == 50.0
    assert cfg.surge == Surge(3.0, 10.0, 20.0) and cfg.spec.seed == 9
