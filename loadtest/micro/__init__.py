"""Micro-benchmarks of one component on this machine, with no broker or worker: the
watchlist checkpoint file (checkpoint-bench)."""
