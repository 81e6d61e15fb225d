"""The worker's metrics follow Prometheus naming conventions and the names agreed with
the dashboard, the alert rules and the other parts of Vigil."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agents.metrics import build_metrics

# Units a Prometheus name may end in (base units, as the conventions ask).
UNITS = ("_seconds", "_bytes", "_records", "_messages")


def families() -> dict[str, str]:
    """Return {exposed family name: type} of a fresh registry."""
    text = generate_latest(build_metrics().registry).decode()
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def test_every_metric_is_a_vigil_one_and_counters_are_totals() -> None:
    exposed = generate_latest(build_metrics().registry).decode()
    for name, kind in families().items():
        assert name.startswith("vigil_"), name
        if kind == "counter":
            assert f"# TYPE {name}_total counter" in exposed, name
        if kind == "histogram":
            assert name.endswith(UNITS), f"{name}: a histogram's name ends in its unit"


def test_names_agreed_across_the_project_are_exposed() -> None:
    agreed = {
        "vigil_records_in": "counter", "vigil_rejected": "counter", "vigil_hits": "counter",
        "vigil_suppressed_sightings": "counter", "vigil_watchlist_expiries": "counter",
        "vigil_watchlist_index_bytes": "gauge", "vigil_watchlist_entries": "gauge",
        "vigil_subscriber_connections": "gauge", "vigil_subscriber_buffer_depth": "gauge",
        "vigil_subscriber_drops": "counter", "vigil_audit_events": "counter",
        "vigil_batch_processing_seconds": "histogram", "vigil_hit_latency_seconds": "histogram",
        "vigil_batch_records": "histogram", "vigil_consumer_lag_messages": "gauge",
        "vigil_watchlist_ready": "gauge", "vigil_hit_dispositions": "counter",
        "vigil_out_of_scope_matches": "counter",
        "vigil_list_precision_threshold": "gauge", "vigil_locations_ready": "gauge",
        "vigil_location_commands": "counter", "vigil_locations_known": "gauge",
        "vigil_location_areas_known": "gauge",
    }
    got = families()
    assert {name: got.get(name) for name in agreed} == agreed

