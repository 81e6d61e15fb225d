"""Running and watching a deployment: the broker and workers (deployment), what is read
from them while traffic flows (probes, Prometheus), and the terminal's progress line."""
