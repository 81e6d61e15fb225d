"""A restarted worker takes its watchlist checkpoint when it fits the topic and reads only
the tail; a checkpoint that does not fit is discarded with one log line and the topic is
read from its start (agents/watchlist_state.py)."""

from __future__ import annotations

import time

import pytest

from config.settings import load_settings
from loadtest.harness.deployment import Deployment
from tests.integration.test_end_to_end import hits_for, now_ms, sighting, upsert

pytestmark = pytest.mark.integration

SECRET = "warm-restart-test-secret"
KEYS = {f"W-{i}": f"5a5b5c5d5e{i:02x}" for i in range(3)}


def log_lines(d: Deployment, text: str) -> list[str]:
    return [line for line in d.log_path.read_text(errors="replace").splitlines() if text in line]


def wait_for_log(d: Deployment, text: str, count: int = 1, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while len(log_lines(d, text)) < count:
        assert time.monotonic() < deadline, f"no {text!r} in the worker log:\n{d.log_tail()}"
        time.sleep(0.1)


def loaded_and_checkpointed(d: Deployment) -> None:
    """Write the entries, start the worker until its first checkpoint, and stop it."""
    for entry_id, key in KEYS.items():
        d.send("watchlist", upsert(entry_id, key=key), key=entry_id)
    d.start_worker()
    assert d.watchlist_entries() == len(KEYS)
    wait_for_log(d, "watchlist checkpoint written")
    d.stop_worker()


def hits_once(d: Deployment, entry_id: str, device: str, sensor: str) -> bool:
    """Sight `device` at `sensor`; return whether `entry_id` hit there."""
    d.send("sensing", sighting(device, now_ms(), sensor=sensor), key=sensor)
    return any(h["location_id"] == sensor for h in hits_for(d, entry_id, timeout_s=10))


def test_a_fitting_checkpoint_is_taken_and_only_the_tail_is_read(deployment_factory) -> None:
    d = deployment_factory(watchlist_hash_secret=SECRET)
    loaded_and_checkpointed(d)
    # While the worker is down: one entry deleted, one added.
    d.send("watchlist", {"op": "delete", "entry_id": "W-0", "requested_by": "unit-17",
                         "reason": "found"}, key="W-0")
    d.send("watchlist", upsert("W-NEW", key="6a6b6c6d6e6f"), key="W-NEW")
    d.start_worker()
    taken = log_lines(d, "watchlist checkpoint taken")
    assert len(taken) == 1 and f"{len(KEYS)} entries" in taken[0], d.log_tail()
    assert not log_lines(d, "not used")
    assert d.watchlist_entries() == len(KEYS)  # 3 - W-0 + W-NEW
    assert hits_once(d, "W-NEW", "6a6b6c6d6e6f", "S-NEW")
    assert hits_once(d, "W-1", KEYS["W-1"], "S-OLD")
    # One partition, in order: once W-2's hit is there, W-0's sighting has been matched.
    d.send("sensing", sighting(KEYS["W-0"], now_ms(), sensor="S-GONE"), key="S-GONE")
    d.send("sensing", sighting(KEYS["W-2"], now_ms(), sensor="S-GONE"), key="S-GONE")
    hits = d.read_until("hits", lambda vs: any(v["entry_id"] == "W-2" for v in vs), 10)
    assert [h["entry_id"] for h in hits if h["location_id"] == "S-GONE"] == ["W-2"]


def test_a_checkpoint_of_another_secret_or_a_damaged_one_is_discarded(
        deployment_factory) -> None:
    d = deployment_factory(watchlist_hash_secret=SECRET)
    loaded_and_checkpointed(d)
    d.settings = load_settings(env={**d.settings.as_env(),
                                    "VIGIL_WATCHLIST_HASH_SECRET": "another-secret"})
    d.start_worker()
    assert len(log_lines(d, "not used")) == 1 and "secret" in log_lines(d, "not used")[0]
    assert not log_lines(d, "watchlist checkpoint taken")
    assert d.watchlist_entries() == len(KEYS)
    assert hits_once(d, "W-1", KEYS["W-1"], "S-1")
    wait_for_log(d, "watchlist checkpoint written", count=2)  # under the new secret
    d.stop_worker()

    (checkpoint,) = (d.run_dir / "watchlist-state").glob("*.ckpt")
    data = bytearray(checkpoint.read_bytes())
    data[-1] ^= 0xFF  # in the last array: the header fits, and the join starts meanwhile
    checkpoint.write_bytes(bytes(data))
    d.start_worker()
    assert len(log_lines(d, "not used")) == 2, d.log_tail()
    assert "checksum" in log_lines(d, "not used")[1]
    assert d.watchlist_entries() == len(KEYS)
    assert hits_once(d, "W-2", KEYS["W-2"], "S-2")


def test_a_checkpoint_of_a_broker_that_lost_its_data_is_discarded(
        deployment_factory, fresh_broker: str) -> None:
    d = deployment_factory(watchlist_hash_secret=SECRET)
    loaded_and_checkpointed(d)
    # The broker came back empty (same topic names) and was loaded with other entries.
    back = Deployment(fresh_broker, d.run_dir, watchlist_hash_secret=SECRET,
                      kafka_topic_prefix=d.settings.kafka.topic_prefix)
    try:
        back.send("watchlist", upsert("W-OTHER", key="7a7b7c7d7e7f"), key="W-OTHER")
        back.start_worker()
        assert len(log_lines(back, "not used")) == 1 and "fit" in log_lines(back, "not used")[0]
        assert back.watchlist_entries() == 1
        assert hits_once(back, "W-OTHER", "7a7b7c7d7e7f", "S-1")
    finally:
        back.close()
