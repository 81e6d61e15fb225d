"""The load-test harness: benchmarks, load and fault tests (never imported by the product).

Sub-packages, each importing only those before it:

    harness < traffic < bench, faults, replay < micro < commands

`harness` runs and watches a deployment, `traffic` generates traffic and its ground truth,
`bench`, `faults` and `replay` are the tools, `micro` times single functions (on the
workloads of `bench`); `commands` adds them to `vigil loadtest`.
"""
