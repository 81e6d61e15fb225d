"""The `vigil` command line: worker start-up, demo, subscribe, and the verbs of each layer."""
