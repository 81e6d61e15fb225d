"""Watchlist edits over HTTP: the same rules as the topic, plus the editor's lists.

The entry id comes from the path; the body is the topic's command without `op` (PUT: an
upsert, DELETE: `requested_by` and `reason`). A valid edit is sent to `vigil.watchlist`,
where it is applied and audited like any other command. The path's entry id is judged
first, by the identifier rule (`schemas.identifiers`), as the server decoded it (`%2F` in
the URL is a `/` here, refused), so a bad one is refused 400 `bad_entry_id` before anything
else is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.subscribers import Principal
from schemas.audit_events import entry_view
from schemas.identifiers import identifier_problem
from schemas.json import dumps, loads
from schemas.rejection import Rejected, short_repr
from schemas.watchlist import WatchlistEntry, decode_watchlist_command
from tables.watchlist import EntryView


class EditRefused(Exception):
    """An edit that must not reach the topic: HTTP status, stable reason, one-line detail."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


@dataclass(frozen=True)
class EditCommand:
    """A checked command for `vigil.watchlist`, and the entry state it leads to."""

    value: bytes
    after: dict[str, Any] | None


def edit_request(op: str, entry_id: str, body: bytes, editor: Principal,
                 current: EntryView | None, now_ms: int, max_ttl_days: int) -> EditCommand:
    """Check an edit of `entry_id` (currently `current`) by `editor`; raise EditRefused."""
    problem = identifier_problem(entry_id)
    if problem is not None:
        raise EditRefused(400, "bad_entry_id", f"entry_id: {problem}, got {short_repr(entry_id)}")
    try:
        doc = loads(body) if body.strip() else {}
    except ValueError:
        raise EditRefused(400, "bad_json", "the body is not JSON") from None
    if not isinstance(doc, dict):
        raise EditRefused(400, "not_a_record", "the body must be a JSON object")
    if doc.get("op", op) != op:
        raise EditRefused(400, "bad_op", f"op must be {op!r} for this method")
    value = dumps({"entry_id": entry_id, **doc, "op": op})
    command = decode_watchlist_command(value, entry_id.encode(), now_ms, max_ttl_days)
    if isinstance(command, Rejected):
        raise EditRefused(400, command.reason, command.detail)
    # Both the list the entry is on and the one it moves to must be the editor's.
    touched = {current.list} if current else set()
    if isinstance(command, WatchlistEntry):
        touched.add(command.list)
    elif current is None:
        raise EditRefused(404, "unknown_entry", f"no entry {entry_id}")
    for list_name in sorted(touched):
        if not editor.may_edit(list_name):
            raise EditRefused(403, "forbidden", f"this token may not edit list {list_name!r}")
    return EditCommand(value, entry_view(command) if isinstance(command, WatchlistEntry)
                       else None)
