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
from edge.argparsing import Parser, path_arg
from edge.cli import value_name
from edge.config import EdgeConfig, MqttConfig, apply_override, describe_errors, flag_name, iter_settings, read_password
from edge.errors import ConfigError, FerEdgeError, run_guarded
from edge.logs import VERBOSE_HELP, configure_logging
from edge.monitor.fleet import Fleet, render
from edge.monitor.store import URL_SCHEME, JsonlLog, Seen, StoreError, open_store
from edge.monitor.subscriber import Subscriber

PROG = "fer-monitor"
PASSWORD_ENV = "FER_MONITOR_PASSWORD"
MQTT = ("mqtt",)
# what the monitor does differently from the agent, added to the [mqtt] field's own description
MONITOR_NOTES = {("client_id",): "fer-monitor's default: fer-monitor-<pid>.", ("topic_prefix",): "Subscribes to <prefix>/#.",
                 ("qos",): "fer-monitor subscribes at this QoS."}
TLS_FILES = (("tls", "ca_file"), ("tls", "cert_file"), ("tls", "key_file"))

logger = logging.getLogger(PROG)


class MonitorError(FerEdgeError, RuntimeError):
    """The broker refused the monitor, or the monitor cannot go on."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="logging threshold on stderr (default: WARNING)")
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="{watch,report}")
    add_watch(verbs.add_parser("watch", help="subscribe to <prefix>/# and show, log and store what arrives",
                               description="Subscribe to <prefix>/# and show, log and store what the fleet sends. "
                               "Messages with an id already seen (QoS 1 re-sends) are dropped before all outputs, and so are "
                               "messages that break the JSON Schemas of edge/schema/ (counted, and logged once per topic)."))
    add_report(verbs.add_parser("report", help="plot the emotions stored in a database over time, per device",
                                description="Plot each device's share of every emotion over time from a "
                                "`watch --store` database (SQLite or PostgreSQL)."))
    return parser


def broker_settings():
    """(path in MqttConfig, field) of each broker setting the monitor takes as a flag: all but the password."""
    return [(path, info) for path, info in iter_settings(MqttConfig) if "SecretStr" not in str(info.annotation)]


def add_watch(parser: argparse.ArgumentParser) -> None:
    broker = parser.add_argument_group(
        "broker (the agent's [mqtt] settings, under the same flag names as `fer-edge run`; "
        f"the password from --mqtt-password-file or {PASSWORD_ENV})"
    )
    for path, info in broker_settings():
        default = info.get_default(call_default_factory=True)
        note = " " + MONITOR_NOTES[path] if path in MONITOR_NOTES else ""
        shown = "" if default is None else f" (default: {default})"
        broker.add_argument(flag_name(MQTT + path), dest="mqtt:" + ".".join(path), metavar=value_name(info.annotation),
                            help=f"{info.description}{note}{shown}")
    output = parser.add_argument_group("output")
    output.add_argument("--jsonl", type=path_arg, help="append every new message to this JSON Lines file")
    output.add_argument("--store", metavar="PATH|URL",
                        help="store every new message in this SQLite file or PostgreSQL database "
                        "(postgresql://user@host:port/dbname; password from the URL or PGPASSWORD), one row per "
                        "message id, in one transaction per batch; for `report`")
    output.add_argument("--sqlite", type=sqlite_file, metavar="PATH", help="the same as --store PATH")
    output.add_argument("--table", action=argparse.BooleanOptionalAction, default=None,
                        help="live per-device table on stdout (default: on when stdout is a terminal)")
    output.add_argument("--refresh", type=float, default=1.0, help="seconds between table redraws (default: 1)")
    output.add_argument("--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)")


def sqlite_file(spec: str) -> Path:
    """--sqlite's value. A URL is refused here, before Path folds its '//' and it reads as a file name."""
    if URL_SCHEME.match(spec):  # the URL is not repeated: it may hold a password
        raise argparse.ArgumentTypeError("takes an SQLite file path; give a database URL to --store")
    return Path(spec)


def png_file(spec: str) -> Path:
    path = Path(spec)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{spec} is a folder; name the PNG file to write")
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"{spec}: the report is a PNG; name a file ending in .png")
    return path


def add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("database", metavar="PATH|URL",
                        help="SQLite file or postgresql:// URL written by `fer-monitor watch --store`")
    parser.add_argument("-o", "--output", type=png_file, required=True, help="PNG file to write (name ends in .png)")
    parser.add_argument("--title", help="figure title (default: describes the data)")


def mqtt_config(args: argparse.Namespace) -> MqttConfig:
    """The broker settings validated as the agent's [mqtt] section, so both check and connect the same way."""
    given = {tuple(k.removeprefix("mqtt:").split(".")): v for k, v in vars(args).items()
             if k.startswith("mqtt:") and v is not None}
    data: dict = {}
    for path, value in given.items():
        apply_override(data, path, value)
    if os.environ.get(PASSWORD_ENV) is not None:
        data["password"] = os.environ[PASSWORD_ENV]
    try:
        config = EdgeConfig.model_validate({"mqtt": data}).mqtt
    except ValidationError as exc:
        origins = {MQTT + path: flag_name(MQTT + path) for path in given} | {MQTT + ("password",): PASSWORD_ENV}
        raise ConfigError(describe_errors(exc, PROG, origins)[0]) from None
    for path in TLS_FILES:
        if path in given and not Path(given[path]).is_file():
            raise ConfigError(f"{flag_name(MQTT + path)} {given[path]}: no such file")
    return read_password(config, flag_name(MQTT + ("password_file",)))


def open_outputs(args: argparse.Namespace) -> list:
    outputs = []
    if args.jsonl is not None:
        outputs.append(JsonlLog(args.jsonl))
    for spec in (args.store, args.sqlite):
        if spec is not None:
            outputs.append(open_store(spec))
    return outputs


def stop_on_signals(stop: threading.Event) -> dict:
    """SIGINT and SIGTERM set `stop`; returns the handlers to put back."""
    return {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}


def watch(args: argparse.Namespace) -> int:
    for flag, value in (("--refresh", args.refresh), ("--duration", args.duration)):
        if value is not None and not value > 0:
            raise ConfigError(f"{flag}: must be above 0 (got {value})")
    config = mqtt_config(args)
    table = sys.stdout.isatty() if args.table is None else args.table
    color = sys.stdout.isatty()
    outputs = open_outputs(args)
    subscriber = Subscriber(config, config.client_id or f"{PROG}-{os.getpid()}")
    fleet, seen, duplicates = Fleet(), Seen(), 0
    stop = threading.Event()
    previous = stop_on_signals(stop)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    next_draw = 0.0
    subscriber.start()
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if subscriber.refused:
                raise MonitorError(f"cannot connect to {subscriber.address}: {subscriber.refused}")
            duplicates += drain(subscriber.records, seen, fleet, outputs, wait=0.2)
            if table and color and time.monotonic() >= next_draw:
                sys.stdout.write(render(fleet))
                sys.stdout.flush()
                next_draw = time.monotonic() + args.refresh
    finally:
        subscriber.stop()
        try:
            duplicates += drain(subscriber.records, seen, fleet, outputs, wait=0)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            failure = to_each(outputs, "close")
            if failure is not None:
                raise failure
    if not subscriber.connected_once.is_set():
        raise MonitorError(f"never connected to {subscriber.address}: {subscriber.failure or 'no answer yet'}")
    if table:
        sys.stdout.write(render(fleet, color=color))
    print(f"{PROG}: {fleet.messages} messages from {len(fleet.devices)} devices, {duplicates} duplicates dropped, "
          f"{subscriber.invalid} invalid rejected", file=sys.stderr)
    return 0


def drain(records: queue.Queue, seen: Seen, fleet: Fleet, outputs: list, wait: float) -> int:
    """Move every queued record to the fleet and the outputs, flushed as one batch; returns the duplicates.
    An output that fails (a full disk) does not stop the others: its first StoreError is raised at the end."""
    duplicates, failure = 0, None
    while True:
        try:
            record = records.get(timeout=wait) if wait else records.get_nowait()
        except queue.Empty:
            break
        wait = 0
        if not seen.add(record.id):
            duplicates += 1
            continue
        fleet.add(record)
        added = to_each(outputs, "add", record)
        failure = failure or added
    flushed = to_each(outputs, "flush")
    failure = failure or flushed
    if failure is not None:
        raise failure
    return duplicates


def to_each(outputs: list, method: str, *args) -> StoreError | None:
    """Call `method` on every output even when one fails (a full disk under one must not cost the others a
    record); returns the first StoreError, for the caller to raise when it is done."""
    failure = None
    for output in outputs:
        try:
            getattr(output, method)(*args)
        except StoreError as exc:
            failure = failure or exc
    return failure


def report(args: argparse.Namespace) -> int:
    try:
        import matplotlib  # noqa: F401  (only the report needs it)
    except ImportError:
        raise MonitorError("report needs matplotlib: pip install 'fer-edge[monitor]'") from None
    from edge.monitor.report import plot

    path, faces, left_out = plot(args.database, args.output, args.title)
    skipped = f"; {left_out} rows left out: their timestamp is not a time in 1970-8999" if left_out else ""
    print(f"{PROG}: wrote {path} ({faces} faces{skipped})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, verbose=args.verbose)
    return run_guarded(PROG, lambda: watch(args) if args.verb == "watch" else report(args))


if __name__ == "__main__":
    sys.exit(main())
