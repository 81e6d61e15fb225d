"""Many watchlist commands decoded in one call: what a bulk load's writer (cli `vigil
watchlist load`) decodes with.

Decoding is most of its per-command cost (measured: 5-8 µs one by one), so it goes through
the columnar batch decoder (`schemas.watchlist_batch.decode_watchlist_batch`, whose verdicts
are those of `decode_watchlist_command`), with each command rebuilt as its object for the
caller.
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
