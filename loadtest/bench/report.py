"""Turn a bench run's raw measurements into its figures: the JSON result, a markdown
summary and a PNG plot (rate, lag and latency over time); with a scoped run, its figures
beside the unscoped run's and the cost of the scope checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loadtest.bench.benchconfig import BenchConfig
from loadtest.bench.surgereport import surge_figures, surge_markdown
from loadtest.harness.probes import HitSeen
from loadtest.traffic.groundtruth import check_hits, suppress
from loadtest.traffic.scoping import JSON_SENSOR_BASE
from loadtest.traffic.sender import StreamSent
from loadtest.traffic.traffic import STREAM_FORMAT, STREAMS

# Issue 21: scope checks may cost at most this share of the records a worker CPU second
# takes in, with 10 % of the entries scoped.
SCOPE_COST_GOAL = 0.10
# The worker counter (agents/metrics.py `vigil_records_in`) that counts each stream.
COUNTER_OF_STREAM = {stream: f"records_in/{s.source}/{fmt}"
                     for stream, (s, fmt) in STREAM_FORMAT.items()}


@dataclass(frozen=True, slots=True)
class Sample:
    """The workers seen at one moment: counters, CPU seconds so far, RSS, hits read so far,
    and their consumer group's lag in messages (None before its first commit)."""

    t_ms: float
    counters: dict[str, float]
    cpu_s: float
    rss_bytes: int
    hits: int
    group_lag_messages: int | None = None


@dataclass
class Measurement:
    """Everything a bench run measured, before any figure is derived."""

    cfg: BenchConfig
    sent: list[StreamSent]
    hits: list[HitSeen]  # as read live, with the time each was read
    samples: list[Sample]
    started_ms: float
    finished_ms: float
    baseline: dict | None
    watchlist_entries: int
    worker_ready_s: float
    setup_s: float
    embedded_broker: bool
    one_record_per_batch: bool
    joins: list[dict]
    # The hits topic read again after the run (HitReader.read_all): what was produced.
    # None: the live read is taken as complete.
    all_hits: list[HitSeen] | None = None
    load_average: dict[str, list[float]] | None = None  # at the start and at the end
    scoped: Measurement | None = None  # the same run again with scoped entries


def records_taken_in(sample: Sample, stream: str) -> float:
    """Return the valid records of `stream` the worker had taken in at `sample`."""
    return sample.counters.get(COUNTER_OF_STREAM[stream], 0.0)


def stream_of_hit(source: str, location_id: str) -> str:
    """Return the stream a hit came from (binary and JSON sensors are numbered apart)."""
    if source == "plate":
        return "plates"
    if source == "checkin":
        return "checkins"
    number = location_id[2:]
    if number.isdigit() and int(number) > JSON_SENSOR_BASE:
        return "sensing_json"
    return "sensing_binary"


def _latencies(latencies_s: list[float]) -> dict[str, float | None]:
    if not latencies_s:
        return {"latency_p50_s": None, "latency_p99_s": None, "latency_p999_s": None}
    p50, p99, p999 = np.percentile(np.array(latencies_s), [50, 99, 99.9])
    return {"latency_p50_s": round(float(p50), 4), "latency_p99_s": round(float(p99), 4),
            "latency_p999_s": round(float(p999), 4)}


def _rates(m: Measurement, sent: list[StreamSent]) -> dict[str, float | bool]:
    """Sent and sustained rates of some streams: sustained counts the records sent over
    the time until the worker had taken them all in (scaled down when it never did)."""
    records = sum(s.records for s in sent)
    valid = sum(s.valid_records for s in sent)
    send_s = max(1e-9, (m.finished_ms - m.started_ms) / 1000)
    first = m.samples[0]
    done = 0.0
    end_ms = m.samples[-1].t_ms
    caught = False
    for sample in m.samples:
        done = sum(records_taken_in(sample, s.stream) - records_taken_in(first, s.stream)
                   for s in sent)
        if sample.t_ms >= m.finished_ms and done >= valid:
            end_ms, caught = sample.t_ms, True
            break
    share = min(1.0, done / valid) if valid else 1.0
    span_s = max(send_s, (end_ms - m.started_ms) / 1000)
    acks = [a / 1000 for s in sent for a in s.ack_ms]
    return {"sent_records_per_s": round(records / send_s, 1),
            "sustained_records_per_s": round(records * share / span_s, 1), "caught_up": caught,
            "broker_ack_p99_s": round(float(np.percentile(acks, 99)), 4) if acks else None}


def _first_reads(expected: set[str], hits: list[HitSeen]) -> list[HitSeen]:
    """Return the first read of each expected hit (a duplicate is not a second latency)."""
    first_read: dict[str, HitSeen] = {}
    for h in hits:
        first_read.setdefault(h.hit_id, h)
    return [h for h in first_read.values() if h.hit_id in expected]


def _hit_figures(expected: set[str], produced: list[HitSeen], live: list[HitSeen]
                 ) -> dict[str, Any]:
    """Hits produced against the expected ones; latency from when they were read live."""
    check = check_hits(expected, [h.hit_id for h in produced])
    latencies = [(h.read_ms - h.observed_ts) / 1000 for h in _first_reads(expected, live)]
    by_id = {h.hit_id: h for h in produced}
    return {**_latencies(latencies), "expected_hits": check.expected_hits,
            "received_hits": check.received_hits, "missed_hits": check.missed_hits,
            "unexpected_hits": check.unexpected_hits, "duplicate_hits": check.duplicates,
            "missed_examples": list(check.missed_examples),
            "unexpected_examples": list(check.unexpected_examples),
            # Where and when: a duplicate is one record matched twice (a crash, a rebalance).
            "duplicate_examples": [{"hit_id": i, "location_id": by_id[i].location_id,
                                    "observed_ts": by_id[i].observed_ts}
                                   for i in check.duplicate_examples]}


def timeline(m: Measurement) -> list[dict[str, float | None]]:
    """Return per-sample-interval figures: rates, lag, latency, worker CPU and RSS."""
    sends = sorted((ts, r, v) for s in m.sent for ts, r, v in s.sends)
    send_ts = np.array([t for t, _, _ in sends], dtype=float)
    send_records = np.cumsum([r for _, r, _ in sends]) if sends else np.zeros(0)
    send_valid = np.cumsum([v for _, _, v in sends]) if sends else np.zeros(0)
    reads = sorted(m.hits, key=lambda h: h.read_ms)
    read_ms = np.array([h.read_ms for h in reads], dtype=float)
    streams = [s.stream for s in m.sent]
    rows = []
    for a, b in zip(m.samples, m.samples[1:], strict=False):
        dt = max(1e-9, (b.t_ms - a.t_ms) / 1000)
        i_a, i_b = np.searchsorted(send_ts, [a.t_ms, b.t_ms], side="right")
        sent_a = send_records[i_a - 1] if i_a else 0
        sent_b = send_records[i_b - 1] if i_b else 0
        valid_b = send_valid[i_b - 1] if i_b else 0
        done_a = sum(records_taken_in(a, s) for s in streams)
        done_b = sum(records_taken_in(b, s) for s in streams)
        h_a, h_b = np.searchsorted(read_ms, [a.t_ms, b.t_ms], side="right")
        lat = [(h.read_ms - h.observed_ts) / 1000 for h in reads[h_a:h_b]]
        rows.append({
            "t_s": round((b.t_ms - m.started_ms) / 1000, 2),
            "sent_records_per_s": round(float(sent_b - sent_a) / dt, 1),
            "processed_records_per_s": round((done_b - done_a) / dt, 1),
            "lag_records": float(max(0, valid_b - done_b)),
            "group_lag_messages": b.group_lag_messages,
            "hits_read": float(h_b - h_a),
            "latency_p50_s": round(float(np.median(lat)), 4) if lat else None,
            "latency_p99_s": round(float(np.percentile(lat, 99)), 4) if lat else None,
            "worker_cpu_percent": round((b.cpu_s - a.cpu_s) / dt * 100, 1),
            "worker_rss_bytes": float(b.rss_bytes),
        })
    return rows


def summarize(m: Measurement, command: str) -> dict[str, Any]:
    """Return the bench's JSON result."""
    cfg = m.cfg
    expected_all = suppress([h for s in m.sent for h in s.expected], cfg.suppress_seconds * 1000)
    expected_ids = {h.hit_id for h in expected_all}
    produced = m.hits if m.all_hits is None else m.all_hits
    result: dict[str, Any] = {
        "command": command, "duration_s": cfg.duration_s,
        "target_records_per_s": sum(cfg.rates.get(s, 0) for s in STREAMS),
        **_rates(m, m.sent), **_hit_figures(expected_ids, produced, m.hits),
        # Produced but not seen by the live reader (see HitReader): no latency for those.
        "hits_skipped_live": len({h.hit_id for h in produced} - {h.hit_id for h in m.hits}),
    }
    in_run = [s for s in m.samples if m.started_ms <= s.t_ms]
    cpu_s = in_run[-1].cpu_s - in_run[0].cpu_s if len(in_run) > 1 else 0.0
    span_s = (in_run[-1].t_ms - in_run[0].t_ms) / 1000 if len(in_run) > 1 else 0.0
    last = m.samples[-1].counters if m.samples else {}
    records = sum(s.records for s in m.sent)
    result.update(
        # Hits the workers counted as sent, against those read back: tells a hit never
        # produced from one lost between worker and reader (a restart counts again).
        worker_hits_counted=sum(v for k, v in last.items() if k.startswith("hits/")),
        # Key matches out of their entry's scope: each planted one must be counted, once.
        out_of_scope_planted=sum(s.out_of_scope for s in m.sent),
        worker_out_of_scope_counted=sum(v for k, v in last.items()
                                        if k.startswith("out_of_scope/")),
        worker_max_rss_bytes=max((s.rss_bytes for s in m.samples), default=0),
        worker_cpu_s=round(cpu_s, 2),
        worker_cpu_percent_mean=round(cpu_s / span_s * 100, 1) if span_s else None,
        # The rate one worker core would sustain on this traffic (idle time included).
        worker_records_per_cpu_s=round(records / cpu_s, 1) if cpu_s else None,
        baseline_records_per_s=round(m.baseline["records_per_s"], 1) if m.baseline else None,
        load_average=m.load_average,
    )
    for stream in STREAMS:
        sent = [s for s in m.sent if s.stream == stream]
        expected = {h.hit_id for h in expected_all if h.stream == stream}
        def of_stream(hits: list[HitSeen], stream: str = stream) -> list[HitSeen]:
            return [h for h in hits if stream_of_hit(h.source, h.location_id) == stream]

        result[stream] = {"target_records_per_s": cfg.rates.get(stream, 0),
                          **(_rates(m, sent) if sent else {"sent_records_per_s": 0.0,
                                                           "sustained_records_per_s": 0.0,
                                                           "caught_up": True,
                                                           "broker_ack_p99_s": None}),
                          **_hit_figures(expected, of_stream(produced), of_stream(m.hits))}
    binary = result["sensing_binary"]["sustained_records_per_s"]
    base = result["baseline_records_per_s"]
    result["binary_to_baseline_ratio"] = round(binary / base, 1) if base and binary else None
    result["passed"] = bool(result["caught_up"] and not (
        result["missed_hits"] or result["unexpected_hits"] or result["duplicate_hits"])
        and result["worker_out_of_scope_counted"] == result["out_of_scope_planted"])
    rows = timeline(m)
    result.update(
        workers=m.cfg.workers, worker_joins=m.joins, watchlist_entries=m.watchlist_entries,
        worker_ready_s=round(m.worker_ready_s, 2),
        setup_s=round(m.setup_s, 2), embedded_broker=m.embedded_broker,
        one_record_per_batch=m.one_record_per_batch, baseline=m.baseline,
        traffic={k: getattr(cfg.spec, k) for k in cfg.spec.__dataclass_fields__},
        records_per_message={s: cfg.batches[s] for s in STREAMS if cfg.rates.get(s, 0)},
        suppress_seconds=cfg.suppress_seconds, timeline=rows)
    if cfg.surge is not None:
        latencies = [((h.observed_ts - m.started_ms) / 1000, (h.read_ms - h.observed_ts) / 1000)
                     for h in _first_reads(expected_ids, m.hits)]
        result["surge"] = surge_figures(rows, latencies, cfg.surge, cfg.duration_s,
                                        result["target_records_per_s"])
        # An overload run also claims the backlog drains while traffic goes on.
        result["passed"] = result["passed"] and result["surge"]["drained_after_s"] is not None
    if m.scoped is not None:
        scoped = summarize(m.scoped, command)
        result.update(scoped=scoped, scope_cost=scope_cost(result, scoped),
                      passed=result["passed"] and scoped["passed"])
    return result


def scope_cost(unscoped: dict[str, Any], scoped: dict[str, Any]) -> dict[str, Any]:
    """Return the scoped run's rates beside the unscoped run's, and what the scope checks
    cost: the share of records per worker CPU second lost (a worker that keeps up takes in
    every record at either rate, so CPU per record is what the checks show in)."""
    plain_cpu, scoped_cpu = (unscoped["worker_records_per_cpu_s"],
                             scoped["worker_records_per_cpu_s"])
    cost = round(1 - scoped_cpu / plain_cpu, 4) if plain_cpu and scoped_cpu else None
    plain_rate, scoped_rate = (unscoped["sustained_records_per_s"],
                               scoped["sustained_records_per_s"])
    return {"scoped_share": scoped["traffic"]["scoped_share"],
            "unscoped_records_per_s": plain_rate, "scoped_records_per_s": scoped_rate,
            "rate_ratio": round(scoped_rate / plain_rate, 4) if plain_rate else None,
            "unscoped_records_per_cpu_s": plain_cpu, "scoped_records_per_cpu_s": scoped_cpu,
            "cpu_cost": cost, "goal_cpu_cost_max": SCOPE_COST_GOAL,
            "goal_met": cost is not None and cost <= SCOPE_COST_GOAL}


def _fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:,.0f} ms"


def markdown(result: dict[str, Any], results_dir: Path) -> str:
    """Return the run's summary as markdown."""
    verdict = "PASSED" if result["passed"] else "FAILED"
    broker = "embedded Tansu" if result["embedded_broker"] else "external Kafka"
    lines = [
        f"## Vigil bench: {verdict}", "",
        f"`{result['command']}`", "",
        f"{result['duration_s']:.0f} s at a target of {result['target_records_per_s']:,.0f} "
        f"records/s; watchlist {result['watchlist_entries']:,} entries; broker {broker}"
        f"{' (one record per produce batch)' if result['one_record_per_batch'] else ''}.",
        f"Traffic: hit rate {result['traffic']['hit_rate']:g}, malformed share "
        f"{result['traffic']['malformed_share']:g}; records per message: "
        + ", ".join(f"{k} {v:,}" for k, v in result["records_per_message"].items()) + ".", "",
        "| stream | target rec/s | sent rec/s | sustained rec/s | p50 | p99 | p99.9 "
        "| expected | received | missed | unexpected | duplicate |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in [*((s, result[s]) for s in STREAMS), ("all", result)]:
        if name != "all" and not r["target_records_per_s"]:
            continue
        lines.append(
            f"| {name} | {r['target_records_per_s']:,.0f} | {r['sent_records_per_s']:,.0f} "
            f"| {r['sustained_records_per_s']:,.0f} | {_fmt_s(r['latency_p50_s'])} "
            f"| {_fmt_s(r['latency_p99_s'])} | {_fmt_s(r['latency_p999_s'])} "
            f"| {r['expected_hits']:,} | {r['received_hits']:,} | {r['missed_hits']:,} "
            f"| {r['unexpected_hits']:,} | {r['duplicate_hits']:,} |")
    cpu = result["worker_cpu_percent_mean"]
    joined = "".join(f"; worker {i + 2} joined at {j['joined_at_s']:.1f} s (ready after "
                     f"{j['ready_s']:.1f} s)" for i, j in enumerate(result["worker_joins"]))
    lines += ["",
              f"Workers: {result['workers']}{joined}.",
              f"Worker: {result['worker_cpu_s']:.1f} CPU s ({cpu if cpu is not None else '-'} % "
              f"of one core on average), max RSS {result['worker_max_rss_bytes'] / 2**20:,.0f} "
              f"MiB, ready {result['worker_ready_s']:.1f} s after start. "
              f"Caught up: {'yes' if result['caught_up'] else 'NO'}. Hits the worker(s) "
              f"counted as sent: {result['worker_hits_counted']:,.0f}; skipped by the live "
              f"reader (counted from a full read, not timed): {result['hits_skipped_live']}. "
              f"Broker ack p99 (send to "
              f"ack, the part of latency before the worker): {_fmt_s(result['broker_ack_p99_s'])}."]
    if result["baseline_records_per_s"] is not None:
        ratio = result["binary_to_baseline_ratio"]
        lines.append(
            f"Naive baseline (Faust agent, one JSON record per event, dict lookup): "
            f"{result['baseline_records_per_s']:,.0f} records/s"
            + (f"; binary path / baseline = {ratio:,.1f}×." if ratio else "."))
    if "surge" in result:
        lines += surge_markdown(result["surge"])
    lines.append(_load_line(result["load_average"]))
    if "scoped" in result:
        lines += _scope_markdown(result, result["scoped"], result["scope_cost"])
    lines += ["", f"Results: {results_dir}"]
    return "\n".join(lines)


def _load_line(load: dict[str, list[float]] | None) -> str:
    if not load:
        return "Load average: not measured."
    return f"Load average (1, 5, 15 min): {load['start']} at start, {load['end']} at end."


def _scope_markdown(unscoped: dict[str, Any], scoped: dict[str, Any], cost: dict[str, Any]
                    ) -> list[str]:
    lines = ["", f"### Scoped entries: {cost['scoped_share']:.0%} of the entries scoped", "",
             "The same traffic again on a fresh deployment of the broker, right after. "
             + _load_line(scoped["load_average"]), "",
             "| run | sent rec/s | sustained rec/s | worker CPU % | rec per CPU s | expected "
             "| received | missed | unexpected | out of scope planted | counted |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in (("unscoped", unscoped), ("scoped", scoped)):
        lines.append(
            f"| {name} | {r['sent_records_per_s']:,.0f} | {r['sustained_records_per_s']:,.0f} "
            f"| {r['worker_cpu_percent_mean']} | {r['worker_records_per_cpu_s'] or 0:,.0f} "
            f"| {r['expected_hits']:,} | {r['received_hits']:,} | {r['missed_hits']:,} "
            f"| {r['unexpected_hits']:,} | {r['out_of_scope_planted']:,} "
            f"| {r['worker_out_of_scope_counted']:,.0f} |")
    verdict = "met" if cost["goal_met"] else "NOT met"
    share = "-" if cost["cpu_cost"] is None else f"{cost['cpu_cost']:.1%}"
    lines += ["", f"Scope checks cost {share} of the records per worker CPU second (goal at "
                  f"most {cost['goal_cpu_cost_max']:.0%}: {verdict}); scoped / unscoped "
                  f"sustained rate {cost['rate_ratio']}. Scoped run: "
                  f"{'PASSED' if scoped['passed'] else 'FAILED'}."]
    return lines


def plot(result: dict[str, Any], path: Path) -> None:
    """Draw input rate, lag and hit latency over time to a PNG file."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    rows = result["timeline"]
    t = [r["t_s"] for r in rows]
    fig, (rate, lag, latency) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    rate.plot(t, [r["sent_records_per_s"] for r in rows], label="sent")
    rate.plot(t, [r["processed_records_per_s"] for r in rows], label="taken in by the worker")
    rate.axhline(result["target_records_per_s"], color="grey", linestyle=":", label="target")
    rate.set_ylabel("records/s")
    rate.legend(loc="upper left")
    lag.plot(t, [r["lag_records"] for r in rows], color="tab:red")
    lag.set_ylabel("lag (records)")
    for key, label in (("latency_p50_s", "p50"), ("latency_p99_s", "p99")):
        points = [(x, r[key]) for x, r in zip(t, rows, strict=True) if r[key] is not None]
        latency.plot([p[0] for p in points], [p[1] for p in points], ".-", label=label)
    latency.set_ylabel("observation → hit (s)")
    latency.set_xlabel("seconds since traffic started")
    latency.legend(loc="upper right")
    if "surge" in result:
        surge = result["surge"]
        for ax in (rate, lag, latency):
            ax.axvspan(surge["at_s"], surge["at_s"] + surge["for_s"], color="tab:orange",
                       alpha=0.15, label="surge" if ax is rate else None)
        rate.legend(loc="upper left")
    fig.suptitle(f"Vigil bench: {'passed' if result['passed'] else 'FAILED'}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
