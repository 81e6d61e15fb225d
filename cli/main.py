"""The `vigil` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points

from kafka.errors import KafkaError

from cli import audit, locations, report, subscribe
from cli.rowfile import numbered_lines, open_input
from config.settings import Settings, SettingsError, load_settings
from streams.broker import BrokerError, EmbeddedBroker, resolve_bootstrap
from tables.inputs import INPUT_STREAMS

# Entry-point group through which packages above the CLI (the load-test harness) add their
# verbs, so that the product never imports them.
COMMAND_PLUGINS = "vigil.commands"

# Field that becomes the message key, per input topic (the contract's "key" column).
KEY_FIELDS = {**{s.name: s.key_field for s in INPUT_STREAMS}, "watchlist": "entry_id",
              "locations": "location_id"}


def _lines(source: str) -> Iterator[tuple[int, bytes]]:
    with open_input(source) as stream:
        yield from numbered_lines(stream)


def _topic_arg(name: str) -> str:
    """Validate a topic argument (short or contract name); return its short name."""
    from streams.topics import TopicNames

    try:
        return TopicNames.short_name(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_broker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.brokercheck import check_high_watermark, one_record_per_batch
    from streams.topics import ensure_topics, topic_names

    broker = EmbeddedBroker.from_settings(settings)
    if args.action in ("start", "stop") and settings.kafka.bootstrap:
        print(f"kafka.bootstrap is {settings.kafka.bootstrap}: no embedded broker is used",
              file=sys.stderr)
        return 2
    if args.action == "start":
        b = settings.broker
        info = broker.start(b.host, b.port, b.start_timeout_s)
        ensure_topics(info.bootstrap, settings)
        print(f"broker running: pid {info.pid}, bootstrap {info.bootstrap}, log {info.log_file}")
    elif args.action == "stop":
        print("broker stopped" if broker.stop() else "no embedded broker was running")
    elif args.action == "status":
        if settings.kafka.bootstrap:
            print(f"external cluster: {settings.kafka.bootstrap}")
            return 0
        info = broker.info()
        print(f"running: pid {info.pid}, bootstrap {info.bootstrap}" if info else "not running")
        return 0 if info else 3
    else:  # check
        bootstrap = resolve_bootstrap(settings)
        ensure_topics(bootstrap, settings)
        check = check_high_watermark(bootstrap, topic_names(settings).broker_check, settings)
        print(check.summary(one_record_per_batch(settings.kafka.one_record_per_batch, check)))
    return 0


def cmd_settings(settings: Settings, args: argparse.Namespace) -> int:
    """Print every setting in force (secrets masked) and the variable that sets it."""
    rows = settings.describe()
    width = max(len(name) for name, _, _ in rows)
    for name, value, var in rows:
        print(f"{name:<{width}}  {value}  ({var})")
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from cli.worker import run_worker

    run_worker(settings)
    return 0


def cmd_watchlist_load(settings: Settings, args: argparse.Namespace) -> int:
    from cli.watchlist_load import run_watchlist_load

    return run_watchlist_load(settings, args)


def _message_key(short: str, line: bytes) -> bytes | None:
    from schemas.json import loads

    field = KEY_FIELDS.get(short)
    try:
        obj = loads(line)
    except ValueError:
        return None
    value = obj.get(field) if isinstance(obj, dict) and field else None
    return str(value).encode() if value is not None else None


class _Refusals:
    """Counts the messages the broker refused, and keeps the first reason: the errback of
    every send (kafka-python calls it from its I/O thread, or at once for a failed send)."""

    def __init__(self) -> None:
        self.count = 0
        self.first: BaseException | None = None

    def __call__(self, exc: BaseException) -> None:
        self.count += 1
        self.first = self.first or exc


def cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    from schemas.json import loads
    from streams.clients import make_producer
    from streams.topics import topic_names

    short = args.topic
    topic = topic_names(settings).resolve(short)
    producer = make_producer(settings)
    count = 0
    # A flush returns whether or not the broker took each message: Apache Kafka refuses, for
    # one, a keyless record on a compacted topic (watchlist, locations), which the embedded
    # broker stores.
    refused = _Refusals()
    try:
        if args.binary:
            binary = next((s.binary for s in INPUT_STREAMS if s.name == short), None)
            if binary is None:
                packed = [s.name for s in INPUT_STREAMS if s.binary]
                print(f"--binary is for {', '.join(packed)} only", file=sys.stderr)
                return 2
            batch: list[dict] = []
            headers = [("content-type", binary.content_type.encode())]

            def flush() -> None:
                if batch:
                    producer.send(topic, value=binary.encode(batch),
                                  headers=headers).add_errback(refused)
                    batch.clear()

            for _, line in _lines(args.file):
                batch.append(loads(line))
                count += 1
                if len(batch) >= args.batch_size:
                    flush()
            flush()
        else:
            for _, line in _lines(args.file):
                producer.send(topic, key=_message_key(short, line),
                              value=line).add_errback(refused)
                count += 1
        producer.flush()
    finally:
        producer.close()
    if refused.count:
        print(f"the broker refused {refused.count} of the messages to {topic}, the first "
              f"because: {refused.first}", file=sys.stderr)
        return 1
    print(f"produced {count} records to {topic}", file=sys.stderr)
    return 0


def cmd_tail(settings: Settings, args: argparse.Namespace) -> int:
    from streams.reader import open_sync_reader
    from streams.topics import topic_names

    topic = topic_names(settings).resolve(args.topic)
    consumer, _ = open_sync_reader(
        resolve_bootstrap(settings), [topic], client_id="vigil-tail", settings=settings,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        consumer_timeout_ms=int(args.timeout * 1000) if args.timeout else float("inf"),
    )
    shown = 0
    try:
        for msg in consumer:
            sys.stdout.write(msg.value.decode("utf-8", "replace") + "\n")
            sys.stdout.flush()
            shown += 1
            if args.max and shown >= args.max:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from cli.demo import run_demo

    return run_demo(settings, args)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `vigil`, the plugins' verbs included."""
    parser, verbs = _product_parser()
    _add_plugin_verbs(verbs)
    return parser


def _product_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """Return the parser of the product's own verbs and its verbs' action."""
    p = argparse.ArgumentParser(prog="vigil", description="Real-time watchlist alerting engine.")
    p.add_argument("--config", metavar="FILE", help="settings file (TOML, as config/defaults.toml)")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("worker", help="run a worker").set_defaults(func=cmd_worker)
    sub.add_parser("settings", help="print the settings in force (secrets masked)").set_defaults(
        func=cmd_settings)

    b = sub.add_parser("broker", help="the embedded broker (Tansu)")
    b.add_argument("action", choices=["start", "stop", "status", "check"])
    b.set_defaults(func=cmd_broker)

    w = sub.add_parser("watchlist", help="watchlist commands")
    wsub = w.add_subparsers(dest="action", required=True)
    load = wsub.add_parser("load", help="send the commands of a JSON-lines or CSV file")
    load.add_argument("file", metavar="FILE",
                      help="one command per line (JSON), or FILE.csv with a header row; - = stdin")
    load.add_argument("--dry-run", action="store_true",
                      help="send nothing: print the commands that would be sent, and why "
                           "the others are refused")
    load.add_argument("--progress", action="store_true",
                      help="show progress on stderr even when it is not a terminal")
    load.set_defaults(func=cmd_watchlist_load)

    pr = sub.add_parser("produce", help="send records (one JSON value per line) to a topic")
    pr.add_argument("topic", type=_topic_arg,
                    help=f"{', '.join(KEY_FIELDS)} (or vigil.<name>)")
    pr.add_argument("file", nargs="?", default="-", help="input file, - (default) = stdin")
    pr.add_argument("--binary", action="store_true",
                    help="pack the records into binary batches ("
                         f"{', '.join(s.name for s in INPUT_STREAMS if s.binary)} only)")
    pr.add_argument("--batch-size", type=int, default=1000, help="records per binary batch")
    pr.set_defaults(func=cmd_produce)

    t = sub.add_parser("tail", help="print the messages of a topic (hits, deadletter, audit...)")
    t.add_argument("topic", type=_topic_arg, help="hits, deadletter, audit, ... (or vigil.<name>)")
    t.add_argument("--from-beginning", action="store_true")
    t.add_argument("--max", type=int, default=0, help="stop after this many messages")
    t.add_argument("--timeout", type=float, default=0, help="stop after this many idle seconds")
    t.set_defaults(func=cmd_tail)

    d = sub.add_parser("demo", help="broker, worker, demo watchlist, synthetic traffic, live hits")
    d.add_argument("--rate", type=float, default=2000, help="sightings per second")
    d.add_argument("--duration", type=float, default=0, help="seconds to run (0 = until Ctrl-C)")
    d.set_defaults(func=cmd_demo)
    locations.add_parsers(sub)
    subscribe.add_parsers(sub)
    audit.add_parsers(sub)
    report.add_parsers(sub)
    return p, sub


def _add_plugin_verbs(verbs: argparse._SubParsersAction) -> None:
    for plugin in entry_points(group=COMMAND_PLUGINS):
        try:
            plugin.load()(verbs)
        except Exception as exc:  # a broken add-on must not take the product's verbs with it
            print(f"vigil: the {plugin.name!r} commands are unavailable: "
                  f"{type(exc).__name__}: {exc}", file=sys.stderr)


def _verb(argv: list[str]) -> str | None:
    """Return the verb `argv` names (its first word that is no option or `--config`'s
    value), None when an option other than `--config` comes first (`--help`, say)."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
        elif not word.startswith("--config="):
            return None
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the `vigil` command line; return its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    # A product verb's process does not import the plugins' modules (a worker starts
    # 0.1 s sooner; tests and benchmarks start many).
    parser, verbs = _product_parser()
    if _verb(argv) not in verbs.choices:
        _add_plugin_verbs(verbs)
    args, extra = parser.parse_known_args(argv)
    # argparse fills an optional positional before the flags that follow it, so in
    # `vigil produce sensing --binary FILE` the FILE is left over; give it its place.
    if extra and args.command == "produce" and len(extra) == 1 and args.file == "-":
        args.file = extra[0]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        settings = load_settings(args.config)
        return args.func(settings, args) or 0
    except (SettingsError, BrokerError) as exc:
        print(exc, file=sys.stderr)
        return 2
    except KafkaError as exc:
        print(f"kafka: {type(exc).__name__}: {exc} (is the broker up? see `vigil broker status`)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
