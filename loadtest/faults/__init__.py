"""Fault runs: the worker killed (crash, with checked traffic), the broker frozen (outage),
and hostile input to every decoder (fuzz)."""
