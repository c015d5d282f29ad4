#!/usr/bin/env python3
"""How fast fer-monitor stores a fleet's results: SQLite vs PostgreSQL, K simulated agents through a real broker.

K agent processes (one paho client each, QoS 1, as fast as acknowledged) publish schema-valid emotion
messages (built by edge/messages.py) to a private Mosquitto; in this process fer-monitor's own subscriber,
deduplication and drain loop (edge/monitor/cli.py) feed the store under test. Each store is measured batched
(one transaction per drain of the queue, as `fer-monitor watch` does); a round without a store gives the
monitor's own ceiling. The records a round received are then replayed into a fresh store with nothing else
running, 1000 rows per transaction and, as the baseline, one row per transaction: the store's capacity.

Printed: rows per second through the broker (first message sent to last row committed), and replayed,
medians over --repeats rounds (the stores alternate within each repeat).
PostgreSQL runs durable (fsync and synchronous commit on), SQLite with its defaults (rollback journal,
synchronous FULL), both on the same disk. Needs mosquitto and Debian's postgresql (make system-deps).

  python deploy/store_bench.py --agents 5 20 --messages 500 --repeats 3
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from edge.argparsing import Parser, float_between, int_at_least  # noqa: E402
from edge.classifier import Emotion  # noqa: E402
from edge.config import MqttConfig  # noqa: E402
from edge.demo.mosquitto import LocalMosquitto  # noqa: E402
from edge.labels import EMOTIONS  # noqa: E402
from edge.messages import emotion_message  # noqa: E402
from edge.monitor.cli import drain  # noqa: E402
from edge.monitor.fleet import Fleet  # noqa: E402
from edge.monitor.store import Seen, open_store  # noqa: E402
from edge.monitor.subscriber import Subscriber  # noqa: E402
from edge.publisher import encode  # noqa: E402
from postgres import LocalPostgres  # noqa: E402  (tests/postgres.py)

PROG = "store_bench.py"


def agent_message(device: str, sequence: int) -> bytes:
    label = EMOTIONS[sequence % len(EMOTIONS)]
    probabilities = {name: (0.64 if name == label else 0.06) for name in EMOTIONS}
    emotion = Emotion(label, 0.64, probabilities)
    return encode(emotion_message(device, "bench", uuid.uuid4().hex, time.time(), (100, 80, 96, 96), emotion))


def run_agent(device: str, port: int, messages: int, go) -> None:
    """One simulated agent: connect, wait for the start signal, publish as fast as the broker acknowledges."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{device}")
    client.max_inflight_messages_set(32)
    client.connect("127.0.0.1", port)
    client.loop_start()
    go.wait()
    pending = []
    for sequence in range(messages):
        pending.append(client.publish(f"fer/{device}/emotion", agent_message(device, sequence), qos=1))
        if len(pending) >= 32:
            pending.pop(0).wait_for_publish(60)
    for info in pending:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


class Keeping:
    """The store under test, keeping every record it was given for the replay rounds."""

    def __init__(self, store):
        self.store, self.records = store, []

    def add(self, record) -> None:
        self.records.append(record)
        if self.store is not None:
            self.store.add(record)

    def flush(self) -> int:
        return self.store.flush() if self.store is not None else 0


def wait_subscribed(broker: LocalMosquitto, client_id: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while f"Received SUBSCRIBE from {client_id}" not in broker.log.read_text():
        if time.monotonic() > deadline:
            raise RuntimeError("the monitor never subscribed")
        time.sleep(0.05)


def through_broker(broker: LocalMosquitto, spec: str | None, agents: int, messages: int, timeout: float) -> dict:
    """K agents publish; fer-monitor's subscriber and drain store into `spec` (None: no store, the ceiling)."""
    store = open_store(spec) if spec is not None else None
    output = Keeping(store)
    client_id = f"bench-monitor-{uuid.uuid4().hex[:8]}"
    subscriber = Subscriber(MqttConfig(host=broker.host, port=broker.port), client_id)
    subscriber.start()
    wait_subscribed(broker, client_id)
    go = mp.Event()
    processes = [mp.Process(target=run_agent, args=(f"pi-{n:03d}", broker.port, messages, go), daemon=True)
                 for n in range(agents)]
    for process in processes:
        process.start()
    time.sleep(1.0)  # let every agent connect
    expected, seen, fleet = agents * messages, Seen(), Fleet()
    started = time.monotonic()
    go.set()
    while len(output.records) < expected or (store is not None and store.stored < expected):
        if time.monotonic() - started > timeout:
            break
        drain(subscriber.records, seen, fleet, [output], wait=0.2)
    elapsed = time.monotonic() - started
    subscriber.stop()
    for process in processes:
        process.join(30)
    rows = len(store.rows()) if store is not None else len(output.records)
    if store is not None:
        store.close()
    return {"rows": rows, "expected": expected, "rate": rows / elapsed, "records": output.records}


def stored_bytes(store) -> int:
    """Bytes the store takes on disk: the SQLite file, or the PostgreSQL table with its indexes and TOAST."""
    if hasattr(store, "path"):
        return store.path.stat().st_size
    return store._db.execute("SELECT pg_total_relation_size('messages')").fetchone()[0]


def replay(spec: str, records: list, batch: int, sizes: list | None = None) -> float:
    """rows/s inserting `records` into a fresh store, `batch` rows per transaction, nothing else running;
    appends the bytes per row it took to `sizes`."""
    store = open_store(spec)
    started = time.perf_counter()
    for start in range(0, len(records), batch):
        for record in records[start:start + batch]:
            store.add(record)
        store.flush()
    elapsed = time.perf_counter() - started
    assert store.stored == len(records), (store.stored, len(records))
    if sizes is not None:
        sizes.append(stored_bytes(store) / len(records))
    store.close()
    return len(records) / elapsed


def fresh_stores(workdir: Path, postgres: LocalPostgres) -> dict:
    """name -> a function giving a fresh, empty store spec."""

    def sqlite() -> str:
        return str(workdir / f"round-{uuid.uuid4().hex[:8]}.db")

    def postgresql() -> str:
        import psycopg

        with psycopg.connect(postgres.url, autocommit=True) as db:
            db.execute("DROP TABLE IF EXISTS messages")
        return postgres.url

    return {"SQLite": sqlite, "PostgreSQL": postgresql}


MAX_AGENTS = 500  # one process each


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int_at_least(1, MAX_AGENTS), nargs="+", default=[5, 20],
                        help=f"K values, one round each, 1 to {MAX_AGENTS} (default: 5 20)")
    parser.add_argument("--messages", type=int_at_least(1), default=500,
                        help="messages per agent per round (default: 500)")
    parser.add_argument("--repeats", type=int_at_least(1), default=3,
                        help="rounds per store and K, alternating (default: 3)")
    parser.add_argument("--unbatched-rows", type=int_at_least(1), default=1000,
                        help="rows replayed one per transaction, the baseline (default: 1000)")
    parser.add_argument("--timeout", type=float_between(1, 86400), default=300,
                        help="give up a round after this many seconds, 1 to 86400 (default: 300)")
    return parser.parse_args(argv)


def measure(args, broker: LocalMosquitto, stores: dict) -> dict:
    results: dict[tuple[str, int], dict[str, list]] = {}
    for agents in args.agents:
        for _ in range(args.repeats):
            for name in ["no store", *stores]:
                spec = stores[name]() if name in stores else None
                run = through_broker(broker, spec, agents, args.messages, args.timeout)
                row = results.setdefault((name, agents), {"rows": [], "broker": [], "batched": [], "single": [], "bytes": []})
                row["rows"].append(run["rows"])
                row["broker"].append(run["rate"])
                if name in stores:
                    row["batched"].append(replay(stores[name](), run["records"], 1000, row["bytes"]))
                    row["single"].append(replay(stores[name](), run["records"][:args.unbatched_rows], 1))
                print(f"  {name:<11} K={agents:<4} {run['rows']}/{run['expected']} rows, {run['rate']:.0f} rows/s "
                      "through the broker" + (f", replayed {row['batched'][-1]:.0f} rows/s batched, "
                                              f"{row['single'][-1]:.0f} one per transaction" if name in stores else ""),
                      file=sys.stderr)
    return results


def print_table(results: dict, repeats: int) -> None:
    median = lambda values: f"{statistics.median(values):.0f}" if values else "-"
    print(f"| store | K agents | rows | rows/s through the broker | rows/s replayed, 1000 per transaction "
          f"| rows/s replayed, 1 per transaction | bytes per row on disk |  (medians of {repeats})")
    print("|---|---|---|---|---|---|---|")
    for (name, agents), row in results.items():
        print(f"| {name} | {agents} | {min(row['rows'])} | {median(row['broker'])} | {median(row['batched'])} "
              f"| {median(row['single'])} | {median(row['bytes'])} |")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # through the finally below: servers stopped
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        workdir = Path(tmp)
        # Mosquitto drops QoS 1 messages past 1000 queued for a slow subscriber (max_queued_messages): unlimited
        # here, so a round measures the monitor and its store, not the broker's queue limit
        broker = LocalMosquitto(workdir, extra_config="max_queued_messages 0\n").start()
        postgres = LocalPostgres(durable=True).start()
        try:
            results = measure(args, broker, fresh_stores(workdir, postgres))
        finally:
            postgres.stop()
            broker.stop()
    print_table(results, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
