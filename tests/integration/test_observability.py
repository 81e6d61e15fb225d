"""A real Prometheus scraping a running worker under steady traffic: the series operators
rely on are there, with values that agree with what was sent; the dashboard and the alert
rules use only metrics the worker exposes, and their queries run."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cli.demo_traffic import DEMO_LISTS, SightingSource, demo_watchlist
from loadtest.harness.deployment import Deployment
from loadtest.harness.prometheus import RULES_FILE, PrometheusServer
from loadtest.traffic.paced import SentTraffic, send_paced_sightings
from schemas.json import loads

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "config" / "grafana" / "vigil-dashboard.json"
RATE = 2000          # records per second the generator sends
DURATION_S = 12      # how long it sends them
SCRAPE_S = 1.0
# How an exposed family may be written in a query.
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
            "gauge": ("",), "summary": ("_count", "_sum", "")}


class Observed(NamedTuple):
    deployment: Deployment
    prometheus: PrometheusServer
    traffic: SentTraffic


def wait_for(what: str, check, timeout_s: float = 30.0):
    """Poll `check()` until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def scalar(prom: PrometheusServer, expr: str, at: float | None = None) -> float | None:
    """Return the value of a one-element vector, None when it is empty."""
    result = prom.query(expr, at)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


@pytest.fixture(scope="module")
def observed(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    tmp = tmp_path_factory.mktemp("observability")
    # A precision threshold other than the default, to see the worker export the setting.
    d = Deployment(bootstrap, tmp / "deployment", worker_lag_interval_s="1",
                   alerts_min_list_precision="0.8")
    prom = PrometheusServer(tmp / "prometheus",
                            [f"127.0.0.1:{d.settings.worker.web_port}"], SCRAPE_S)
    try:
        rng = random.Random(7)
        commands = demo_watchlist(rng, time.time_ns() // 1_000_000)
        for c in commands:
            d.send("watchlist", c, key=c["entry_id"])
        d.start_worker()
        prom.start()
        wait_for("a first scrape", lambda: scalar(prom, 'up{job="vigil"}') == 1)
        d.send("sensing", b'{"sensor_id": "S-BAD"', key="S-BAD")  # one dead letter
        source = SightingSource(rng, [(c["id_type"], c["key"]) for c in commands])
        traffic = send_paced_sightings(d, source, RATE, DURATION_S)
        # Every record counted, and scraped after that, before any test looks.
        wait_for("all records on Prometheus", lambda: scalar(
            prom, 'sum(vigil_records_in_total{source="sensing"})') == traffic.records, 60)
        yield Observed(d, prom, traffic)
    finally:
        prom.stop()
        d.close()


def test_records_in_rate_is_what_the_generator_sent(observed: Observed) -> None:
    t = observed.traffic
    # Steady state only: leave out the first two seconds, while the pipeline fills.
    window_ms = round((t.ended - t.started - 2) * 1000)
    measured = scalar(observed.prometheus,
                      f'sum(rate(vigil_records_in_total{{source="sensing"}}[{window_ms}ms]))',
                      at=t.ended)
    print(f"sent {t.records} records at {t.rate:.0f}/s; Prometheus rate {measured:.0f}/s")
    assert measured == pytest.approx(t.rate, rel=0.2)
    assert scalar(observed.prometheus, "sum(vigil_records_in_total)") == t.records


def test_hits_are_counted_by_list_and_their_latency_is_plausible(observed: Observed) -> None:
    prom, t = observed.prometheus, observed.traffic
    by_list = {r["metric"]["list"]: float(r["value"][1])
               for r in prom.query("sum by (list) (vigil_hits_total)")}
    # Suppression may fold repeated sightings of one device at one sensor into one hit.
    assert 0 < sum(by_list.values()) <= t.watched
    assert set(by_list) <= {name for name, _ in DEMO_LISTS}
    hits = sum(by_list.values())
    assert scalar(prom, "sum(vigil_hit_latency_seconds_count)") == hits
    mean_s = scalar(prom, "sum(vigil_hit_latency_seconds_sum) / "
                          "sum(vigil_hit_latency_seconds_count)")
    # Records are stamped up to 50 ms before they are sent; hits follow within seconds.
    assert mean_s is not None and 0 < mean_s < 5
    p99 = scalar(prom, "histogram_quantile(0.99, sum by (le) "
                       "(rate(vigil_hit_latency_seconds_bucket[1m])))")
    assert p99 is not None and 0 < p99 < 10


def test_consumer_lag_has_every_partition_and_drains_to_zero(observed: Observed) -> None:
    d, prom = observed.deployment, observed.prometheus
    sensing = d.topics.sensing
    partitions = {r["metric"]["partition"] for r in prom.query(
        f'vigil_consumer_lag_messages{{topic="{sensing}"}}')}
    assert partitions == {str(p) for p in range(d.settings.topics.sensing_partitions)}
    # vigil.watchlist is read by the watchlist audit's own group, which exports its lag too.
    watchlist = {r["metric"]["partition"] for r in prom.query(
        f'vigil_consumer_lag_messages{{topic="{d.topics.watchlist}"}}')}
    assert watchlist == {str(p) for p in range(d.settings.topics.watchlist_partitions)}
    # Offsets are committed every few seconds; then nothing is left behind.
    wait_for("lag to drain", lambda: scalar(prom, "sum(vigil_consumer_lag_messages)") == 0)


def exposed_names(metrics_text: str) -> set[str]:
    """Return every name a query may use for the families in a /metrics page."""
    names = set()
    for family in text_string_to_metric_families(metrics_text):
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
        names.update(s.name for s in family.samples)
    return names


def dashboard_queries() -> list[str]:
    dashboard = loads(DASHBOARD.read_bytes())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_dashboard_and_rules_use_only_metrics_on_the_worker(observed: Observed) -> None:
    exposed = exposed_names(observed.deployment.http_text("/metrics"))
    used = set(re.findall(r"\bvigil_[a-z_]+", " ".join(dashboard_queries())))
    used |= set(re.findall(r"\bvigil_[a-z_]+", RULES_FILE.read_text()))
    assert used, "no metric names found"
    assert used - exposed == set()


def test_every_dashboard_query_runs_and_the_traffic_panels_show_it(observed: Observed) -> None:
    prom = observed.prometheus
    empty = []
    for expr in dashboard_queries():
        result = prom.query(expr.replace("$instance", ".*").replace("$__rate_interval", "30s")
                            .replace("$__range", "5m"))
        if not result:
            empty.append(expr)
    shown = [e for e in dashboard_queries() if e not in empty]
    for metric in ("vigil_records_in_total", "vigil_rejected_total", "vigil_hits_total",
                   "vigil_hit_latency_seconds",
                   "vigil_consumer_lag_messages", "vigil_watchlist_entries"):
        assert any(metric in e for e in shown), f"no panel over {metric} shows data"


def test_alert_rules_are_loaded_healthy_and_quiet(observed: Observed) -> None:
    groups = observed.prometheus.api("rules")["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(rules) == {"VigilWorkerDown", "VigilWatchlistNotLoaded", "VigilConsumerLagGrowing",
                          "VigilHitLatencyHigh", "VigilRejectRatioHigh", "VigilListPrecisionLow"}
    assert {name: r["health"] for name, r in rules.items()} == dict.fromkeys(rules, "ok")
    # Deterministic here: the worker is up and loaded, one bad message in 24,000 records is
    # far below the reject ratio, 20 messages a second leave no growing backlog, and no hit
    # is disposed.
    # Latency is left out: a loaded machine may slow hits.
    quiet = ("VigilWorkerDown", "VigilWatchlistNotLoaded", "VigilConsumerLagGrowing",
             "VigilRejectRatioHigh", "VigilListPrecisionLow")
    assert {name: rules[name]["state"] for name in quiet} == dict.fromkeys(quiet, "inactive")


def test_the_precision_threshold_the_rule_reads_is_the_setting_in_force(observed: Observed
                                                                         ) -> None:
    setting = observed.deployment.settings.alerts.min_list_precision
    assert setting == 0.8
    assert scalar(observed.prometheus, "vigil_list_precision_threshold") == setting
