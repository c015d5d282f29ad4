#!/usr/bin/env python3
"""Load test for one broker: K simulated agents publish emotion messages to fer/<device>/emotion while one
subscriber on fer/# counts what arrives.

Each agent is a process running the agent's real delivery path: edge/messages.py builds the message,
edge/publisher.py's MqttPublisher stores it in a real SQLite outbox (edge/outbox.py) and sends it with MQTT 5,
QoS 1, over TLS with the device's own client certificate, to a private Mosquitto started from the shipped
deploy/mosquitto/ files (fer-edge.conf, acl, certificates from make-certs.sh) on a free 127.0.0.1 port.

Prints, per K: messages per second delivered, CPU per agent (share of one core, its publisher and outbox
threads included), broker CPU, what was left in the outboxes at the end, drops (stored but never reached the
subscriber: the broker drops QoS 1 messages past max_queued_messages for a subscriber that falls behind),
refusals by the broker,
duplicates and latency from the message's timestamp to its arrival. Bounded in count and time, loopback only.

  python deploy/loadtest.py --agents 10 50 --messages 200 --rate 20
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from edge.argparsing import Parser, float_between, int_at_least
from edge.classifier import Emotion
from edge.config import MqttConfig, TlsConfig
from edge.labels import EMOTIONS
from edge.messages import Topics, emotion_message, status_message
from edge.outbox import Outbox
from edge.publisher import MqttPublisher, wait_until

PROG = "loadtest.py"
MAX_AGENTS = 500  # one process each
LOOPBACK = "127.0.0.1"
DEPLOY = Path(__file__).resolve().parent
READER = "fer-reader"


@dataclass
class AgentResult:
    device: str
    sent: int
    refused: int
    unsent: int
    cpu_seconds: float
    wall_seconds: float


def face(sequence: int) -> Emotion:
    label = EMOTIONS[sequence % len(EMOTIONS)]
    return Emotion(label, 0.64, {name: (0.64 if name == label else 0.06) for name in EMOTIONS})


def tls_files(certs: Path, name: str) -> TlsConfig:
    return TlsConfig(ca_file=certs / "ca.crt", cert_file=certs / f"{name}.crt", key_file=certs / f"{name}.key")


def run_agent(device: str, port: int, certs: Path, workdir: Path, messages: int, rate: float, timeout: float, go,
              results) -> None:
    """One simulated agent on the real path; waits for the start signal, publishes at `rate` (0: as fast as
    its outbox takes them), then waits until its outbox is empty."""
    topics = Topics("fer", device)
    config = MqttConfig(host=LOOPBACK, port=port, username=device, tls=tls_files(certs, device))
    outbox = Outbox(workdir / f"{device}.sqlite3")

    def will():
        return topics.status, status_message(device, "load", "offline", 0)

    publisher = MqttPublisher(config, outbox, f"fer-edge-{device}", will,
                              on_connect=lambda: [])
    publisher.start()
    if not wait_until(lambda: publisher.connected, 30):
        raise SystemExit(f"{PROG}: error: {device} did not connect within 30 s")
    go.wait()
    start = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_SELF)
    for sequence in range(messages):
        if rate:
            time.sleep(max(0.0, start + sequence / rate - time.monotonic()))
        publisher.publish(topics.emotion, emotion_message(device, "load", "e" * 32, time.time(), (100, 80, 96, 96), face(sequence)))
    publisher.flush(timeout)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    results.put(AgentResult(device, messages, publisher.refused, len(outbox), cpu, time.monotonic() - start))
    publisher.stop()
    outbox.close()


def run_subscriber(port: int, certs: Path, expected: int, timeout: float, ready, results) -> None:
    """Count distinct ids and latency per message until `expected` arrived or `timeout` passed."""
    seen: set[str] = set()
    latencies: list[float] = []
    counts = {"duplicates": 0, "first": None, "last": None}

    def on_message(client, userdata, message):
        now = time.time()
        payload = json.loads(message.payload)
        if payload["id"] in seen:
            counts["duplicates"] += 1
            return
        seen.add(payload["id"])
        sent = datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00")).timestamp()
        latencies.append(now - sent)
        counts["first"] = counts["first"] or now
        counts["last"] = now

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="load-subscriber", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.on_subscribe = lambda *args: ready.set()
    files = tls_files(certs, READER)
    client.tls_set(ca_certs=str(files.ca_file), certfile=str(files.cert_file), keyfile=str(files.key_file))
    client.connect(LOOPBACK, port)
    client.subscribe("fer/#", qos=1)
    deadline = time.monotonic() + timeout
    while len(seen) < expected and time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    results.put({"delivered": len(seen), "duplicates": counts["duplicates"], "latencies": latencies,
                 "span": (counts["last"] or 0) - (counts["first"] or 0)})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def make_certs(workdir: Path, devices: list[str]) -> Path:
    """The CA, broker and client certificates from the shipped make-certs.sh (one per simulated device)."""
    certs = workdir / "fer"
    subprocess.run([DEPLOY / "mosquitto" / "make-certs.sh", "--out", certs, *devices, READER], check=True,
                   stdout=subprocess.DEVNULL)
    return certs


def start_broker(certs: Path) -> tuple[subprocess.Popen, int]:
    """Mosquitto with the shipped fer-edge.conf and acl (TLS, certificate identities), on a loopback port."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise SystemExit(f"{PROG}: error: mosquitto is not installed (Debian package `mosquitto`)")
    port = free_port()
    shutil.copy(DEPLOY / "mosquitto" / "acl", certs / "acl")
    shipped = (DEPLOY / "mosquitto" / "fer-edge.conf").read_text()
    listener = shipped.replace("/etc/mosquitto/fer/", f"{certs}/").replace("listener 8883\n", f"listener {port} {LOOPBACK}\n")
    config = certs / "mosquitto.conf"
    config.write_text(("user root\n" if os.geteuid() == 0 else "") + "persistence false\n" + listener)
    broker = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection((LOOPBACK, port), timeout=0.2).close()
            return broker, port
        except OSError:
            time.sleep(0.05)
    broker.kill()
    raise SystemExit(f"{PROG}: error: mosquitto did not start on port {port}")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def device_names(agents: int) -> list[str]:
    return [f"sim-{i:03d}" for i in range(agents)]


def run_round(agents: int, messages: int, rate: float, port: int, certs: Path, broker_pid: int, timeout: float) -> dict:
    """One load level: K agents, each `messages` at `rate`; returns the figures of the table row."""
    ready, go = mp.Event(), mp.Event()
    agent_results, subscriber_results = mp.Queue(), mp.Queue()
    subscriber = mp.Process(target=run_subscriber, args=(port, certs, agents * messages, timeout, ready, subscriber_results))
    subscriber.start()
    if not ready.wait(10):
        raise SystemExit(f"{PROG}: error: the subscriber did not subscribe within 10 s")
    with tempfile.TemporaryDirectory(prefix="outboxes-") as outboxes:
        workers = [mp.Process(target=run_agent, args=(device, port, certs, Path(outboxes), messages, rate, timeout, go, agent_results))
                   for device in device_names(agents)]
        for worker in workers:
            worker.start()
        time.sleep(2.0 + agents * 0.05)  # let every agent connect (TLS handshakes) before the clock starts
        return measure(workers, subscriber, go, agent_results, subscriber_results, broker_pid, timeout)


def measure(workers, subscriber, go, agent_results, subscriber_results, broker_pid: int, timeout: float) -> dict:
    broker_before = process_cpu_seconds(broker_pid)
    started = time.monotonic()
    go.set()
    sent = [agent_results.get(timeout=timeout) for _ in workers]
    received = subscriber_results.get(timeout=timeout)
    wall = time.monotonic() - started
    broker_cpu = (process_cpu_seconds(broker_pid) - broker_before) / wall
    for process in [*workers, subscriber]:
        process.join(5)
    latencies = sorted(received["latencies"]) or [0.0]
    total_sent = sum(result.sent for result in sent)
    return {
        "agents": len(workers), "rate": None, "sent": total_sent, "delivered": received["delivered"],
        "unsent": sum(r.unsent for r in sent), "dropped": total_sent - received["delivered"],
        "refused": sum(r.refused for r in sent),
        "duplicates": received["duplicates"],
        "msgs_per_s": received["delivered"] / max(received["span"], 1e-9),
        "agent_cpu": statistics.mean(r.cpu_seconds / r.wall_seconds for r in sent),
        "broker_cpu": broker_cpu,
        "p50_ms": 1000 * latencies[len(latencies) // 2], "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
    }


COLUMNS = [("agents", "K", "{}"), ("rate", "msg/s per agent", "{}"), ("sent", "sent", "{}"),
           ("delivered", "delivered", "{}"), ("unsent", "left in outboxes", "{}"), ("dropped", "dropped", "{}"),
           ("refused", "refused", "{}"),
           ("duplicates", "dup", "{}"),
           ("msgs_per_s", "delivered msg/s", "{:.0f}"), ("agent_cpu", "CPU per agent", "{:.1%}"),
           ("broker_cpu", "broker CPU", "{:.0%}"), ("p50_ms", "p50 ms", "{:.1f}"), ("p99_ms", "p99 ms", "{:.1f}")]


def format_row(row: dict) -> str:
    cells = ["-" if row[key] is None else fmt.format(row[key]) for key, _, fmt in COLUMNS]
    return "| " + " | ".join(cells) + " |"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int_at_least(1, MAX_AGENTS), nargs="+", default=[10, 50], metavar="K",
                        help=f"numbers of simulated agents, one round each, 1 to {MAX_AGENTS} (default: 10 50)")
    parser.add_argument("--messages", type=int_at_least(1, 100_000), default=200,
                        help="messages per agent per round, 1 to 100000 (default: 200)")
    parser.add_argument("--rate", type=float_between(0, 10_000), default=20.0,
                        help="messages per second per agent, up to 10000; 0: as fast as its outbox takes them "
                        "(default: 20)")
    parser.add_argument("--timeout", type=float_between(1, 86400), default=120.0,
                        help="give up on a round after this many seconds, 1 to 86400 (default: 120)")
    args = parser.parse_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        certs = make_certs(Path(workdir), device_names(max(args.agents)))
        broker, port = start_broker(certs)
        try:
            print(f"mosquitto (deploy/mosquitto/, TLS) on 127.0.0.1:{port}, {os.cpu_count()} CPUs, "
                  f"{args.messages} messages per agent through MqttPublisher and its outbox, MQTT 5, QoS 1")
            print("| " + " | ".join(title for _, title, _ in COLUMNS) + " |")
            print("|" + "---|" * len(COLUMNS))
            for agents in args.agents:
                row = run_round(agents, args.messages, args.rate, port, certs, broker.pid, args.timeout)
                print(format_row(row | {"rate": args.rate or "max"}), flush=True)
        finally:
            broker.terminate()
            broker.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
