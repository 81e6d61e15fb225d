"""Many watchlist commands decoded in one call: what a bulk load's writer and its audit
(cli `vigil watchlist load`, agents/watchlist_audit.py) decode with.

Decoding is most of their per-command cost (measured: 5-8 µs of the audit's 10 µs one by
one), so it goes through the columnar batch decoder
(`schemas.watchlist_batch.decode_watchlist_batch`, whose verdicts are those of
`decode_watchlist_command`), with each command rebuilt as its object for the callers.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.rejection import Rejected
from schemas.watchlist import WatchlistDelete, WatchlistEntry, decode_watchlist_command
from schemas.watchlist_batch import decode_watchlist_batch

WatchlistCommand = WatchlistEntry | WatchlistDelete | Rejected


def decode_watchlist_commands(values: Sequence[bytes], keys: Sequence[bytes | None],
                              timestamps_ms: Sequence[int], max_ttl_days: int
                              ) -> list[WatchlistCommand]:
    """Decode each command `values[i]` (message key `keys[i]`, judged against
    `timestamps_ms[i]`) as `decode_watchlist_command` does; return the verdicts in order."""
    batch = decode_watchlist_batch(values, keys, timestamps_ms, max_ttl_days)
    return [batch.command(i) or decode_watchlist_command(values[i], keys[i], timestamps_ms[i],
                                                         max_ttl_days)
            for i in range(len(values))]
