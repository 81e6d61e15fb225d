"""`vigil report precision` as a user runs it, on dispositions and hits written to the broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from loadtest.harness.deployment import Deployment
from schemas.clock import now_ms
from schemas.json import loads
from tests.cli.test_report import png_size
from tests.integration.test_cli import vigil

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000


def hit(hit_id: str, list_name: str, match: str, detected_ts: int) -> dict:
    return {"hit_id": hit_id, "entry_id": f"W-{list_name}", "list": list_name, "priority": 2,
            "source": "plate", "location_id": "C-0042", "observed_ts": detected_ts - 50,
            "detected_ts": detected_ts, "match": match, "observed": {"plate": "K12345"}}


def disposition(hit_id: str, list_name: str, match: str, outcome: str, at: int,
                reason: str | None = None) -> dict:
    return {"hit_id": hit_id, "entry_id": f"W-{list_name}", "list": list_name, "priority": 2,
            "source": "plate", "match": match, "outcome": outcome, "reason": reason,
            "note": "", "by": "desk", "at": at}


@pytest.fixture(scope="module")
def known_set(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """A deployment (no worker: nothing here needs one) whose topics hold a known set:
    stolen-vehicles exact has 4 hits, 3 disposed in force (2 confirmed, one of them after a
    false positive was replaced, and 1 misread); ocr-tolerant has 2 hits, 1 false positive
    (cloned); wanted-persons has 1 hit and no disposition; an old hit and disposition, ten
    days back, and a record that is not a disposition."""
    d = Deployment(bootstrap, tmp_path_factory.mktemp("precision"))
    now, old = now_ms(), now_ms() - 10 * DAY_MS
    for h in [*(hit(f"h-{n}", "stolen-vehicles", "exact", now) for n in (1, 2, 3, 4)),
              hit("h-4", "stolen-vehicles", "exact", now),  # written twice (a replay): one hit
              hit("h-5", "stolen-vehicles", "ocr-tolerant", now),
              hit("h-6", "stolen-vehicles", "ocr-tolerant", now),
              hit("h-7", "wanted-persons", "exact", now),
              hit("h-old", "stolen-vehicles", "exact", old)]:
        d.send("hits", h, key=h["entry_id"])
    for rec in [disposition("h-1", "stolen-vehicles", "exact", "false_positive", now, "misread"),
                disposition("h-1", "stolen-vehicles", "exact", "confirmed", now + 1),
                disposition("h-2", "stolen-vehicles", "exact", "confirmed", now),
                disposition("h-3", "stolen-vehicles", "exact", "false_positive", now, "misread"),
                disposition("h-5", "stolen-vehicles", "ocr-tolerant", "false_positive", now,
                            "cloned_or_copied"),
                disposition("h-old", "stolen-vehicles", "exact", "confirmed", old)]:
        d.send("dispositions", rec, key=rec["hit_id"])
    d.send("dispositions", b"not json", key="h-junk")
    try:
        yield d
    finally:
        d.close()


def report(d: Deployment, *args: str) -> tuple[str, str]:
    done = vigil(d.settings.as_env(), "report", "precision", *args)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return done.stdout.decode(), done.stderr.decode()


def test_json_counts_the_disposition_in_force_per_list_and_match(known_set: Deployment) -> None:
    out, err = report(known_set, "--json")
    result = loads(out)
    assert result["skipped_records"] == 1
    assert "1 records of the dispositions topic were not dispositions" in err
    rows = {(r["list"], r["match"]): r for r in result["rows"]}
    assert rows["stolen-vehicles", "exact"] == {
        "list": "stolen-vehicles", "match": "exact", "hits": 5, "disposed": 4, "confirmed": 3,
        "false_positive": 1,
        "false_positive_by_reason": {"misread": 1, "wrong_subject": 0, "cloned_or_copied": 0,
                                     "duplicate": 0, "other": 0},
        "no_action": 0, "precision": 0.75}
    ocr = rows["stolen-vehicles", "ocr-tolerant"]
    assert (ocr["hits"], ocr["disposed"], ocr["precision"]) == (2, 1, 0.0)
    wanted = rows["wanted-persons", "exact"]
    assert (wanted["hits"], wanted["disposed"], wanted["precision"]) == (1, 0, None)


def test_since_leaves_out_older_dispositions_and_hits(known_set: Deployment) -> None:
    result = loads(report(known_set, "--json", "--since", "7d")[0])
    exact = next(r for r in result["rows"] if (r["list"], r["match"]) == ("stolen-vehicles",
                                                                           "exact"))
    assert (exact["hits"], exact["disposed"], exact["confirmed"]) == (4, 3, 2)
    assert exact["precision"] == pytest.approx(2 / 3)
    assert result["since_ms"] > now_ms() - 7 * DAY_MS - 60_000


def test_the_table_and_the_plot(known_set: Deployment, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "precision.png"
    out, err = report(known_set, "--since", "7d", "--plot", str(png), "--no-hits")
    lines = out.splitlines()
    assert lines[0].startswith("Precision per list and match rule, dispositions in force since")
    assert lines[2].split() == ["stolen-vehicles", "exact", "-", "3", "2", "1", "1", "0", "0",
                                "0", "0", "0", "66.7%"]
    assert lines[3].split()[:2] == ["stolen-vehicles", "ocr-tolerant"]
    assert f"plot written to {png}" in err
    assert png_size(png) == (600, 450)


def test_an_empty_topic_gives_an_empty_report(deployment_factory: Callable[..., Deployment]
                                              ) -> None:
    out, _ = report(deployment_factory(), "--since", "2026-01-01")
    assert out.splitlines()[1:] == ["no dispositions"]


def test_a_deployment_without_the_topics_is_told_so(known_set: Deployment) -> None:
    env = {**known_set.settings.as_env(), "VIGIL_KAFKA_TOPIC_PREFIX": "nosuchdeployment."}
    done = vigil(env, "report", "precision")
    assert done.returncode == 2
    assert ("topic nosuchdeployment.vigil.dispositions does not exist: is kafka.topic_prefix "
            "the deployment's") in done.stderr.decode()
