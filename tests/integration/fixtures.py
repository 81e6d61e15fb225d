"""Deployments the integration tests share: a worker with one subscriber and one entry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from config.subscribers import token_hash
from loadtest.harness.deployment import Deployment
from schemas.clock import now_ms

DAY_MS = 86_400_000


def desk_deployment(deployment_factory: Callable[..., Deployment], tmp_path: Path, *,
                    token: str, entry_id: str, mac: str, **overrides: str) -> Deployment:
    """Start a worker whose subscribers file has one subscriber, "desk" (`token`, cleared for
    wanted-persons), and whose watchlist has one wanted-persons device entry (`mac`)."""
    subs = tmp_path / "subscribers.toml"
    subs.write_text(f'[[principal]]\nname = "desk"\ntoken_sha256 = "{token_hash(token)}"\n'
                    'lists = ["wanted-persons"]\n')
    d = deployment_factory(access_subscribers_file=str(subs), **overrides)
    d.send("watchlist", {"op": "upsert", "entry_id": entry_id, "list": "wanted-persons",
                         "subject_type": "device", "id_type": "mac", "key": mac,
                         "priority": 1, "legal_basis": "case 5", "requested_by": "unit-5",
                         "expires_at": now_ms() + 30 * DAY_MS}, key=entry_id)
    d.start_worker()
    return d
