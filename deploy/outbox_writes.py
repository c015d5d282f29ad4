#!/usr/bin/env python3
"""Bytes written to disk per delivered result: the real publisher and outbox against a local Mosquitto.

Each round runs MqttPublisher with an outbox on DIR (a real disk: tmpfs writes are not counted) for
--seconds, feeding it emotion messages at --fps frames per second with --faces results each, as the agent
does (one publish_all per frame), waits until a subscriber has every result and the outbox is empty, and
stops the publisher. The figure is this process's write_bytes from /proc/self/io over the round (the
page-cache pages it dirtied: what the SD card will be asked to store) divided by the results delivered.
Rounds alternate between the settings of --commit-seconds; the table shows the median of --repeats.

  python deploy/outbox_writes.py --dir /var/tmp --fps 5 --faces 1 2 --seconds 30 --repeats 3
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from edge.classifier import Emotion
from edge.config import MqttConfig
from edge.demo.mosquitto import LocalMosquitto
from edge.labels import EMOTIONS
from edge.messages import emotion_message
from edge.outbox import Outbox
from edge.publisher import MqttPublisher

PROG = "outbox_writes.py"
TOPIC = "fer/bench/emotion"


def write_bytes() -> int:
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("write_bytes"))


def result() -> dict:
    probabilities = {name: round(0.9 if name == "happy" else 0.1 / 6, 6) for name in EMOTIONS}
    return emotion_message("bench", "fer2013_cnn_bilstm_int8", "e" * 32, time.time(), (120, 80, 140, 140),
                           Emotion("happy", 0.9, probabilities))


class Counter:
    """A subscriber on TOPIC counting distinct ids."""

    def __init__(self, broker: LocalMosquitto):
        self.ids: set[str] = set()
        self._ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda client, *args: client.subscribe(TOPIC, 1)
        self.client.on_subscribe = lambda *args: self._ready.set()
        self.client.on_message = lambda client, userdata, m: self.ids.add(m.payload[7:39].decode())
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise SystemExit(f"{PROG}: error: the subscriber got no SUBACK")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def make_outbox(path: Path, commit_seconds: float | None) -> Outbox:
    """The outbox of the edge under test; `commit_seconds` only where that version has the setting."""
    if commit_seconds is None or "commit_seconds" not in inspect.signature(Outbox).parameters:
        return Outbox(path)
    return Outbox(path, commit_seconds=commit_seconds)


def one_round(broker: LocalMosquitto, workdir: Path, args, commit_seconds: float | None, faces: int) -> tuple:
    """(bytes written, transactions) per delivered result in one round; transactions are None where the
    outbox does not count them (before grouping: one per frame's put and one per acknowledgement)."""
    path = workdir / f"outbox-{time.monotonic_ns()}.sqlite3"
    counter = Counter(broker)
    config = MqttConfig(host=broker.host, port=broker.port)
    publisher = MqttPublisher(config, make_outbox(path, commit_seconds), "fer-edge-bench",
                              lambda: ("fer/bench/status", {"state": "offline"}), on_connect=lambda: [])
    publisher.start()
    if not publisher.flush(10) or not wait(lambda: publisher.connected, 10):
        raise SystemExit(f"{PROG}: error: the publisher did not connect")
    before, sent = write_bytes(), 0
    start = time.monotonic()
    for frame in range(int(args.seconds * args.fps)):
        time.sleep(max(0.0, start + frame / args.fps - time.monotonic()))
        publisher.publish_all([(TOPIC, result()) for _ in range(faces)])
        sent += faces
    if not wait(lambda: len(counter.ids) >= sent, 30) or not publisher.flush(30):
        raise SystemExit(f"{PROG}: error: {sent - len(counter.ids)} results were not delivered")
    publisher.stop()
    publisher.outbox.close()
    written = write_bytes() - before
    commits = getattr(publisher.outbox, "commits", None)
    counter.close()
    for leftover in workdir.glob(path.name + "*"):
        leftover.unlink()
    delivered = len(counter.ids)
    return written / delivered, None if commits is None else commits / delivered


def wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="where the outbox lives: a real disk (default: /var/tmp)")
    parser.add_argument("--fps", type=float, default=5.0, help="frames per second fed to the publisher (default: 5)")
    parser.add_argument("--faces", type=int, nargs="+", default=[1, 2], help="results per frame, one row each (default: 1 2)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of a round (default: 30)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per setting, alternating (default: 3)")
    parser.add_argument("--commit-seconds", type=float, nargs="+", default=[None],
                        help="outbox.commit_seconds settings to compare (default: the outbox's own default)")
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        parser.error(f"--dir {args.dir}: no such folder")
    counts = [("--fps", args.fps), ("--seconds", args.seconds), ("--repeats", args.repeats)]
    for flag, value in counts + [("--faces", faces) for faces in args.faces]:
        if not value > 0:
            parser.error(f"{flag}: must be above 0 (got {value})")
    settings = [(c, f) for f in args.faces for c in args.commit_seconds]
    figures: dict[tuple, list[tuple]] = {s: [] for s in settings}
    with tempfile.TemporaryDirectory(prefix="outbox-writes-") as scratch:
        broker = LocalMosquitto(Path(scratch)).start()
        try:
            with tempfile.TemporaryDirectory(dir=args.dir, prefix="outbox-writes-") as workdir:
                for _ in range(args.repeats):
                    for commit_seconds, faces in settings:
                        figures[(commit_seconds, faces)].append(one_round(broker, Path(workdir), args, commit_seconds, faces))
        finally:
            broker.stop()
    import edge

    print(f"edge from {Path(edge.__file__).parent}, outbox on {args.dir}, {args.fps:g} frames/s, "
          f"{args.seconds:g} s rounds, median of {args.repeats}")
    print("| results per frame | commit_seconds | results/s | bytes written per delivered result | transactions per result |")
    print("| --- | --- | --- | --- | --- |")
    for (commit_seconds, faces), values in figures.items():
        shown = "default" if commit_seconds is None else f"{commit_seconds:g}"
        written = statistics.median(v[0] for v in values)
        commits = "not counted" if values[0][1] is None else f"{statistics.median(v[1] for v in values):.2f}"
        print(f"| {faces} | {shown} | {faces * args.fps:g} | {written:,.0f} | {commits} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
