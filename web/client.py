"""A client of the hit stream and of dispositions: `vigil subscribe` and the tests use it."""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from schemas.json import dumps, loads
from web.sse import Event, parse_events
from web.terminal import safe_text

# ANSI colours by priority (1 is the highest).
PRIORITY_COLOURS = {1: "\x1b[1;31m", 2: "\x1b[33m", 3: "\x1b[36m"}
RESET = "\x1b[0m"


class StreamRefused(Exception):
    """The server answered the stream request with an error status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status


def _connection(base_url: str, timeout_s: float, context: ssl.SSLContext | None
                ) -> http.client.HTTPConnection:
    url = urlsplit(base_url)
    if url.scheme == "https":  # verified: `context`, else the system's CAs
        return http.client.HTTPSConnection(url.hostname, url.port or 443, timeout=timeout_s,
                                           context=context or ssl.create_default_context())
    return http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout_s)


def dispose_hit(base_url: str, token: str, hit_id: str, body: dict[str, Any],
                context: ssl.SSLContext | None = None, timeout_s: float = 30.0
                ) -> tuple[int, Any]:
    """POST a disposition of `hit_id` (contract v1.1); return the status and the JSON
    answer (the text itself when it is not JSON)."""
    conn = _connection(base_url, timeout_s, context)
    try:
        conn.request("POST", f"/v1/hits/{quote(hit_id, safe='')}/disposition",
                     body=dumps(body), headers={"Authorization": f"Bearer {token}",
                                                "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, loads(data)
    except ValueError:
        return resp.status, data.decode("utf-8", "replace")


class HitStreamConnection:
    """One open `GET /v1/hits/stream`; iterate it for events, `close()` it to drop it."""

    def __init__(self, base_url: str, token: str | None, last_event_id: str | None = None,
                 timeout_s: float = 30.0, context: ssl.SSLContext | None = None) -> None:
        self.conn = _connection(base_url, timeout_s, context)
        headers = {"Accept": "text/event-stream"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", "/v1/hits/stream", headers=headers)
        self.response = self.conn.getresponse()
        if self.response.status != 200:
            body = self.response.read().decode("utf-8", "replace")
            self.conn.close()
            raise StreamRefused(self.response.status, body)

    def _lines(self) -> Iterator[str]:
        while line := self.response.readline():
            yield line.decode("utf-8", "replace")

    def __iter__(self) -> Iterator[Event]:
        return parse_events(self._lines())

    def close(self) -> None:
        """Drop the connection."""
        self.conn.close()


def format_hit(hit: dict[str, Any], now_ms: int, colour: bool) -> str:
    """Return one console line for a hit: priority, list, location, entry, observed, age."""
    observed = datetime.fromtimestamp(hit["observed_ts"] / 1000, UTC).strftime("%H:%M:%S")
    age_s = max(0.0, (now_ms - hit["observed_ts"]) / 1000)
    observed_what = " ".join(str(v) for v in hit.get("observed", {}).values())
    line = (f"P{hit['priority']} {hit['list']:<20} at {hit['location_id']:<12} "
            f"{hit['entry_id']:<16} observed {observed}Z ({age_s:.1f} s ago) "
            f"{observed_what} [{hit['hit_id']}]")
    # Whatever the hit holds, no control character reaches the terminal raw.
    line = safe_text(line)
    return f"{PRIORITY_COLOURS.get(hit['priority'], '')}{line}{RESET}" if colour else line


def follow_hits(base_url: str, token: str, on_hit: Callable[[dict[str, Any]], bool],
                on_notice: Callable[[str], None], retry_s: float = 1.0,
                cafile: str | None = None) -> None:
    """Call `on_hit` for every hit, reconnecting with Last-Event-ID after drops, until
    `on_hit` returns False. A refused token ends it with StreamRefused. An https URL's
    certificate is verified against `cafile` (else the system's CAs); an unreadable
    `cafile` or a certificate that fails verification ends it with that OSError."""
    last_id: str | None = None
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    while True:
        try:
            stream = HitStreamConnection(base_url, token, last_id, context=context)
        except ssl.SSLCertVerificationError:
            raise  # retrying cannot help
        except (OSError, http.client.HTTPException) as exc:
            on_notice(f"cannot connect ({exc}); retrying")
            time.sleep(retry_s)
            continue
        try:
            for event in stream:
                if event.event == "lagged":
                    on_notice("fell behind; resuming from the topic")
                elif event.event == "hit":
                    last_id = event.id
                    if not on_hit(loads(event.data)):
                        return
            on_notice("stream ended; reconnecting")
        except (OSError, http.client.HTTPException) as exc:
            on_notice(f"connection lost ({exc}); reconnecting")
        finally:
            stream.close()
        time.sleep(retry_s)
