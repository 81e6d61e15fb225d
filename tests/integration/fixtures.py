"""Deployments the integration tests share: a worker with one subscriber and one entry."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from email.message import Message
from pathlib import Path

from config.subscribers import token_hash
from loadtest.harness.deployment import Deployment
from schemas.clock import now_ms
from schemas.json import dumps

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


def http_request(url: str, method: str, path: str, token: str | None,
                 body: bytes | dict | None = None,
                 headers: dict[str, str | bytes] | None = None) -> tuple[int, bytes, Message]:
    """Return the status, body and headers of one request to `url` + `path` (a dict body is
    sent as JSON), whatever the status."""
    data = dumps(body) if isinstance(body, dict) else body
    req = urllib.request.Request(url + path, method=method, headers=headers or {}, data=data)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers
