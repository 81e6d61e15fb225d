"""Measurements: `vigil loadtest bench`/`overload` (bench, benchconfig, report,
surgereport), the naive baseline it compares with, worker start-up, and the watchlist at
national scale (watchlist_bench)."""
