"""The naive baseline the bench compares Vigil with: a Faust agent that handles one JSON
sighting per event and looks it up in a Python dict.

Run by the bench as `python -m loadtest.bench.baseline ...` on topics of its own. Once it has
handled `--expect` events it writes {"events", "first_ms", "last_ms", "hits"} to
`--result` and keeps running until the bench stops it by its pid.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import faust

from agents.app import FAUST_DEFAULT_MAX_BATCH_SIZE
from config.settings import load_settings
from streams import transport
from streams.security import faust_credentials


def build_app(args: argparse.Namespace) -> faust.App:
    """Build the baseline's Faust app and its one agent; it connects as the VIGIL_KAFKA_*
    variables say (TLS, SASL), which the bench passes on."""
    credentials = faust_credentials(load_settings())
    app = faust.App(
        args.app_id,
        broker=f"{transport.configure(args.fetch_max_wait_ms)}://{args.bootstrap}",
        store="memory://", datadir=tempfile.mkdtemp(prefix="vigil-baseline-"),
        producer_max_batch_size=1 if args.one_record_per_batch else FAUST_DEFAULT_MAX_BATCH_SIZE,
        broker_session_timeout=args.session_timeout_s, consumer_auto_offset_reset="earliest",
        web_enabled=False,
        **({"broker_credentials": credentials} if credentials is not None else {}),
    )
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
           "value_serializer": "raw"}
    sightings = app.topic(args.topic, **raw)
    hits = app.topic(args.hits_topic, **raw)
    watched: dict[tuple[str, str], str] = {
        (k[0], k[1]): k[2] for k in json.loads(Path(args.keys).read_text())}
    state = {"events": 0, "hits": 0, "first_ms": 0.0}

    @app.agent(sightings)
    async def naive(stream):
        async for value in stream:  # one record per event: the per-message cost in full
            record = json.loads(value)
            device_id = record["device_id"].replace(":", "").replace("-", "").lower()
            if record["id_type"] == "etag":
                device_id = device_id.upper()
            entry_id = watched.get((record["id_type"], device_id))
            if entry_id is not None:
                state["hits"] += 1
                await hits.send(key=entry_id.encode(), value=json.dumps(
                    {"entry_id": entry_id, "location_id": record["sensor_id"],
                     "observed_ts": record["ts"]}).encode())
            state["events"] += 1
            now = time.time() * 1000
            if state["events"] == 1:
                state["first_ms"] = now
            if state["events"] == args.expect:
                # Written aside, then renamed: the bench never reads half a file.
                partial = Path(args.result + ".partial")
                partial.write_text(json.dumps(
                    {"events": state["events"], "first_ms": state["first_ms"],
                     "last_ms": now, "hits": state["hits"]}))
                os.replace(partial, args.result)

    return app


def main() -> None:
    """Run the baseline worker until it is stopped."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--app-id", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--hits-topic", required=True)
    p.add_argument("--keys", required=True, help="JSON file of [id_type, device_id, entry_id]")
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--one-record-per-batch", action="store_true")
    p.add_argument("--session-timeout-s", type=float, default=6.0)
    p.add_argument("--fetch-max-wait-ms", type=int, default=100)
    args = p.parse_args()
    logging.basicConfig(level="WARNING")
    app = build_app(args)
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
