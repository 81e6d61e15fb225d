"""Micro-benchmarks of one function of the product against its simpler twin, on one core:
watchlist command decoding, a batch at a time against one at a time (decode_bench)."""
