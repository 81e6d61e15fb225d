"""HTTP API of a worker: hit streams, acks, watchlist edits, the console."""
