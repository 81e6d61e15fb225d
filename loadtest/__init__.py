"""The load-test harness: benchmarks, load and fault tests (never imported by the product).

Sub-packages, each importing only those before it:

    harness < traffic < bench, faults, replay < commands

`harness` runs and watches a deployment, `traffic` generates traffic and its ground truth,
`bench`, `faults` and `replay` are the tools; `commands` adds them to `vigil loadtest`.
"""
