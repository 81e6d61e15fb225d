"""The shipped Prometheus config, alert rules and Grafana dashboard are valid as they are.

promtool comes with Debian's `prometheus` package, which `./dev test` installs as root.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from schemas.json import loads

CONFIG = Path(__file__).resolve().parents[2] / "config"
PROMETHEUS = CONFIG / "prometheus"
DASHBOARD = CONFIG / "grafana" / "vigil-dashboard.json"


def promtool(*args: str) -> str:
    """Run promtool; fail with its output when it does not succeed."""
    binary = shutil.which("promtool")
    assert binary, "promtool missing: install Debian's prometheus package (./dev test as root)"
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_scrape_config_is_valid() -> None:
    assert "SUCCESS" in promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))


def test_alert_rules_are_valid() -> None:
    assert "SUCCESS: 6 rules found" in promtool("check", "rules",
                                               str(PROMETHEUS / "vigil-alerts.yml"))


def test_alert_rule_unit_tests_pass() -> None:
    assert "SUCCESS" in promtool("test", "rules", str(PROMETHEUS / "vigil-alerts.test.yml"))


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return loads(DASHBOARD.read_bytes())


def test_dashboard_panels_are_placed_and_query_the_chosen_prometheus(dashboard: dict) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys(), panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert target["expr"].strip(), panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], f"{panel['title']} has no query"


def test_dashboard_shows_what_operators_asked_for(dashboard: dict) -> None:
    queries = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    for metric in ("vigil_records_in_total", "vigil_consumer_lag_messages",
                   "vigil_hit_latency_seconds_bucket", "vigil_hits_total",
                   "vigil_rejected_total", "vigil_watchlist_entries",
                   "vigil_subscriber_connections", "vigil_hit_dispositions_total"):
        assert metric in queries, metric
    assert "histogram_quantile(0.99" in queries


def test_the_precision_panel_computes_confirmed_over_judged_per_list_and_match(
        dashboard: dict, tmp_path: Path) -> None:
    (panel,) = [p for p in dashboard["panels"]
                if p["title"] == "Precision per list and match rule"]
    assert panel["timeFrom"] == "7d"  # the alert's window
    (target,) = panel["targets"]
    # What Grafana substitutes: every worker, and the panel's range.
    expr = target["expr"].replace("$instance", ".*").replace("$__range", "7d")
    series = {  # (list, match, outcome): dispositions recorded, on two workers for "exact"
        ("stolen", "exact", "confirmed"): 6, ("stolen", "ocr-tolerant", "confirmed"): 1,
        ("stolen", "ocr-tolerant", "false_positive"): 3, ("stolen", "exact", "no_action"): 9,
        ("wanted", "exact", "false_positive"): 2, ("wanted", "exact", "no_action"): 1,
    }
    lines = ["rule_files: []", "evaluation_interval: 1m", "tests:", "  - interval: 1m",
             "    input_series:"]
    for (list_name, match, outcome), n in series.items():
        for instance, share in (("a:6066", n - n // 2), ("b:6066", n // 2)):
            lines += [f"      - series: 'vigil_hit_dispositions_total{{instance=\"{instance}\", "
                      f"list=\"{list_name}\", match=\"{match}\", outcome=\"{outcome}\"}}'",
                      f"        values: '0 {share}x30'"]
    lines += ["    promql_expr_test:", f"      - expr: '{expr.replace(chr(39), chr(39) * 2)}'",
              "        eval_time: 20m", "        exp_samples:"]
    # stolen exact: 6 confirmed, no false positive (no_action left out); stolen ocr: 1 of 4;
    # wanted: false positives only (0, not missing); a list with no_action only has no value.
    for list_name, match, value in (("stolen", "exact", 1), ("stolen", "ocr-tolerant", 0.25),
                                    ("wanted", "exact", 0)):
        lines += [f"          - labels: '{{list=\"{list_name}\", match=\"{match}\"}}'",
                  f"            value: {value}"]
    test_file = tmp_path / "panel.test.yml"
    test_file.write_text("\n".join(lines) + "\n")
    assert "SUCCESS" in promtool("test", "rules", str(test_file))
