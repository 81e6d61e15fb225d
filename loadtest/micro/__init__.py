"""Micro-benchmarks of one component on this machine, with no broker or worker: the
watchlist index against a Python set, and its growth as matching sees it (index_bench,
index_growth), the watchlist checkpoint file (checkpoint_bench), and watchlist command
decoding a batch at a time against one at a time (decode_bench)."""
