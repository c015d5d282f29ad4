"""fer-monitor: `watch` a fleet over MQTT (live table, JSONL and/or SQLite), `report` a database as a PNG."""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path

from pydantic import ValidationError

from edge import __version__
from edge.config import MqttConfig, TlsConfig, read_password
from edge.errors import ConfigError, FerEdgeError, run_guarded
from edge.monitor.fleet import Fleet, render
from edge.monitor.store import JsonlLog, Seen, SqliteStore
from edge.monitor.subscriber import Subscriber

PROG = "fer-monitor"
PASSWORD_ENV = "FER_MONITOR_PASSWORD"
FLAGS = {"host": "--host", "port": "--port", "topic_prefix": "--prefix", "username": "--username",
         "client_id": "--client-id", "ca_file": "--ca-file", "cert_file": "--cert-file", "key_file": "--key-file"}

logger = logging.getLogger(PROG)


class MonitorError(FerEdgeError, RuntimeError):
    """The broker refused the monitor, or the monitor cannot go on."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="logging threshold on stderr (default: WARNING)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="{watch,report}")
    add_watch(verbs.add_parser("watch", help="subscribe to <prefix>/# and show, log and store what arrives",
                               description="Subscribe to <prefix>/# and show, log and store what the fleet sends. "
                               "Messages with an id already seen (QoS 1 re-sends) are dropped before all outputs, and so are "
                               "messages that break the JSON Schemas of edge/schema/ (counted, and logged once per topic)."))
    add_report(verbs.add_parser("report", help="plot the emotions stored in a database over time, per device",
                                description="Plot each device's share of every emotion over time from a "
                                "`watch --sqlite` database."))
    return parser


def add_watch(parser: argparse.ArgumentParser) -> None:
    broker = parser.add_argument_group("broker (the same settings as the agent's [mqtt] section)")
    broker.add_argument("--host", default="localhost", help="broker host name or address (default: localhost)")
    broker.add_argument("--port", type=int, default=1883, help="broker port; 8883 is the usual TLS port (default: 1883)")
    broker.add_argument("--prefix", default="fer", help="topic prefix; subscribes to PREFIX/# (default: fer)")
    broker.add_argument("--client-id", help="MQTT client id (default: fer-monitor-<pid>)")
    broker.add_argument("--username", help="broker user name, e.g. a reader account")
    broker.add_argument("--password-file", type=Path,
                        help=f"file whose first line is the password (or set {PASSWORD_ENV})")
    broker.add_argument("--tls", action="store_true", help="use TLS with the system CAs (implied by --ca-file)")
    broker.add_argument("--ca-file", type=Path, help="CA certificate that signed the broker's; turns TLS on")
    broker.add_argument("--cert-file", type=Path, help="client certificate, for brokers that require one")
    broker.add_argument("--key-file", type=Path, help="private key of --cert-file")
    output = parser.add_argument_group("output")
    output.add_argument("--jsonl", type=Path, help="append every new message to this JSON Lines file")
    output.add_argument("--sqlite", type=Path,
                        help="store every new message in this SQLite database (deduplicated by id; for `report`)")
    output.add_argument("--table", action=argparse.BooleanOptionalAction, default=None,
                        help="live per-device table on stdout (default: on when stdout is a terminal)")
    output.add_argument("--refresh", type=float, default=1.0, help="seconds between table redraws (default: 1)")
    output.add_argument("--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)")


def add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("database", type=Path, help="SQLite database written by `fer-monitor watch --sqlite`")
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG file to write")
    parser.add_argument("--title", help="figure title (default: describes the data)")


def mqtt_config(args: argparse.Namespace) -> MqttConfig:
    """The broker settings as the agent's MqttConfig, so both validate and connect the same way."""
    password = os.environ.get(PASSWORD_ENV)
    try:
        config = MqttConfig(
            host=args.host, port=args.port, topic_prefix=args.prefix, username=args.username,
            client_id=args.client_id, password=password, password_file=args.password_file,
            tls=TlsConfig(enabled=args.tls, ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = FLAGS.get(str(first["loc"][-1]), str(first["loc"][-1]))
        raise ConfigError(f"{flag}: {first['msg']} (got {first['input']!r})") from None
    for flag, path in (("--ca-file", args.ca_file), ("--cert-file", args.cert_file), ("--key-file", args.key_file)):
        if path is not None and not path.is_file():
            raise ConfigError(f"{flag} {path}: no such file")
    return read_password(config, "--password-file")


def open_outputs(args: argparse.Namespace) -> list:
    outputs = []
    if args.jsonl is not None:
        outputs.append(JsonlLog(args.jsonl))
    if args.sqlite is not None:
        outputs.append(SqliteStore(args.sqlite))
    return outputs


def stop_on_signals(stop: threading.Event) -> dict:
    """SIGINT and SIGTERM set `stop`; returns the handlers to put back."""
    return {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}


def watch(args: argparse.Namespace) -> int:
    if args.refresh <= 0:
        raise ConfigError(f"--refresh: must be above 0 (got {args.refresh})")
    config = mqtt_config(args)
    table = sys.stdout.isatty() if args.table is None else args.table
    color = sys.stdout.isatty()
    outputs = open_outputs(args)
    subscriber = Subscriber(config, args.client_id or f"{PROG}-{os.getpid()}")
    fleet, seen, duplicates = Fleet(), Seen(), 0
    stop = threading.Event()
    previous = stop_on_signals(stop)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    next_draw = 0.0
    subscriber.start()
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if subscriber.refused:
                raise MonitorError(f"broker {config.host}:{config.port} refused the connection: {subscriber.refused}")
            duplicates += drain(subscriber.records, seen, fleet, outputs, wait=0.2)
            if table and color and time.monotonic() >= next_draw:
                sys.stdout.write(render(fleet))
                sys.stdout.flush()
                next_draw = time.monotonic() + args.refresh
    finally:
        subscriber.stop()
        duplicates += drain(subscriber.records, seen, fleet, outputs, wait=0)
        for output in outputs:
            output.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if table:
        sys.stdout.write(render(fleet, color=color))
    print(f"{PROG}: {fleet.messages} messages from {len(fleet.devices)} devices, {duplicates} duplicates dropped, "
          f"{subscriber.invalid} invalid rejected", file=sys.stderr)
    return 0


def drain(records: queue.Queue, seen: Seen, fleet: Fleet, outputs: list, wait: float) -> int:
    """Move every queued record to the fleet and the outputs; returns how many were duplicates."""
    duplicates = 0
    while True:
        try:
            record = records.get(timeout=wait) if wait else records.get_nowait()
        except queue.Empty:
            return duplicates
        wait = 0
        if not seen.add(record.id):
            duplicates += 1
            continue
        fleet.add(record)
        for output in outputs:
            output.add(record)


def report(args: argparse.Namespace) -> int:
    try:
        import matplotlib  # noqa: F401  (only the report needs it)
    except ImportError:
        raise MonitorError("report needs matplotlib: pip install 'fer-edge[monitor]'") from None
    from edge.monitor.report import plot

    path = plot(args.database, args.output, args.title)
    print(f"{PROG}: wrote {path}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    return run_guarded(PROG, lambda: watch(args) if args.verb == "watch" else report(args))


if __name__ == "__main__":
    sys.exit(main())
