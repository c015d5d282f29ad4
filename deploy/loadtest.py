#!/usr/bin/env python3
"""Load test for one broker: K simulated agents (processes, one paho client each, QoS 1) publish emotion
messages to <prefix>/<device>/emotion while one subscriber on <prefix>/# counts what arrives.

Prints, per K: messages per second delivered, CPU per agent (share of one core), broker CPU, drops (sent
but never delivered: none expected at QoS 1), duplicates and delivery latency. Bounded in count and time,
loopback only: it starts its own mosquitto on a free 127.0.0.1 port unless --port names a local one.

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
import uuid
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from edge.labels import EMOTIONS

PROG = "loadtest.py"
LOOPBACK = "127.0.0.1"


@dataclass
class AgentResult:
    device: str
    sent: int
    cpu_seconds: float
    wall_seconds: float


def emotion_payload(device: str, sequence: int) -> bytes:
    """About the size and shape of the agent's emotion message (edge/messages.py)."""
    label = EMOTIONS[sequence % len(EMOTIONS)]
    probabilities = {name: (0.64 if name == label else 0.06) for name in EMOTIONS}
    message = {"id": uuid.uuid4().hex, "device": device, "timestamp": time.time(), "model": "loadtest",
               "event": "ev-0", "box": {"x": 100, "y": 80, "w": 96, "h": 96}, "label": label,
               "confidence": 0.64, "probabilities": probabilities, "sent": time.time()}
    return json.dumps(message, separators=(",", ":")).encode()


def connect(client_id: str, port: int) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(32)
    client.max_queued_messages_set(0)
    client.connect(LOOPBACK, port)
    client.loop_start()
    return client


def run_agent(device: str, port: int, messages: int, rate: float, go, results) -> None:
    """One simulated agent: connect, wait for the start signal, publish at `rate` (0: as fast as acked)."""
    client = connect(f"load-{device}", port)
    go.wait()
    start = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_SELF)
    pending = []
    for sequence in range(messages):
        if rate:
            time.sleep(max(0.0, start + sequence / rate - time.monotonic()))
        pending.append(client.publish(f"fer/{device}/emotion", emotion_payload(device, sequence), qos=1))
        if not rate and len(pending) >= 32:
            pending.pop(0).wait_for_publish(30)
    for info in pending:
        info.wait_for_publish(30)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    results.put(AgentResult(device, messages, cpu, time.monotonic() - start))
    client.disconnect()
    client.loop_stop()


def run_subscriber(port: int, expected: int, timeout: float, ready, results) -> None:
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
        latencies.append(now - payload["sent"])
        counts["first"] = counts["first"] or now
        counts["last"] = now

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="load-subscriber")
    client.on_message = on_message
    client.on_subscribe = lambda *args: ready.set()
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


def start_broker(workdir: Path) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise SystemExit(f"{PROG}: error: mosquitto is not installed (Debian package `mosquitto`)")
    port = free_port()
    config = workdir / "mosquitto.conf"
    config.write_text(f"listener {port} {LOOPBACK}\nallow_anonymous true\npersistence false\n"
                      "max_queued_messages 0\nmax_inflight_messages 0\n")
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


def run_round(agents: int, messages: int, rate: float, port: int, broker_pid: int | None, timeout: float) -> dict:
    """One load level: K agents, each `messages` at `rate`; returns the figures of the table row."""
    ready, go = mp.Event(), mp.Event()
    agent_results, subscriber_results = mp.Queue(), mp.Queue()
    subscriber = mp.Process(target=run_subscriber, args=(port, agents * messages, timeout, ready, subscriber_results))
    subscriber.start()
    if not ready.wait(10):
        raise SystemExit(f"{PROG}: error: the subscriber did not subscribe within 10 s")
    workers = [mp.Process(target=run_agent, args=(f"sim-{i:03d}", port, messages, rate, go, agent_results))
               for i in range(agents)]
    for worker in workers:
        worker.start()
    time.sleep(1.0)  # let every agent connect before the clock starts
    broker_before = process_cpu_seconds(broker_pid) if broker_pid else None
    started = time.monotonic()
    go.set()
    sent = [agent_results.get(timeout=timeout) for _ in workers]
    received = subscriber_results.get(timeout=timeout)
    wall = time.monotonic() - started
    broker_cpu = (process_cpu_seconds(broker_pid) - broker_before) / wall if broker_pid else None
    for process in [*workers, subscriber]:
        process.join(5)
    latencies = sorted(received["latencies"]) or [0.0]
    total_sent = sum(result.sent for result in sent)
    return {
        "agents": agents, "rate": rate or "max", "sent": total_sent, "delivered": received["delivered"],
        "dropped": total_sent - received["delivered"], "duplicates": received["duplicates"],
        "msgs_per_s": received["delivered"] / max(received["span"], 1e-9),
        "agent_cpu": statistics.mean(r.cpu_seconds / r.wall_seconds for r in sent),
        "broker_cpu": broker_cpu,
        "p50_ms": 1000 * latencies[len(latencies) // 2], "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
    }


COLUMNS = [("agents", "K", "{}"), ("rate", "msg/s per agent", "{}"), ("sent", "sent", "{}"),
           ("delivered", "delivered", "{}"), ("dropped", "dropped", "{}"), ("duplicates", "dup", "{}"),
           ("msgs_per_s", "delivered msg/s", "{:.0f}"), ("agent_cpu", "CPU per agent", "{:.1%}"),
           ("broker_cpu", "broker CPU", "{:.0%}"), ("p50_ms", "p50 ms", "{:.1f}"), ("p99_ms", "p99 ms", "{:.1f}")]


def format_row(row: dict) -> str:
    cells = ["-" if row[key] is None else fmt.format(row[key]) for key, _, fmt in COLUMNS]
    return "| " + " | ".join(cells) + " |"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, nargs="+", default=[10, 50], metavar="K",
                        help="numbers of simulated agents, one round each (default: 10 50)")
    parser.add_argument("--messages", type=int, default=200, help="messages per agent per round (default: 200)")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="messages per second per agent; 0: as fast as the broker acknowledges (default: 20)")
    parser.add_argument("--port", type=int, help="use the broker already listening on 127.0.0.1:PORT")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on a round after this long (default: 120)")
    args = parser.parse_args(argv)
    if min(args.agents) < 1 or max(args.agents) > 500:
        parser.error("--agents: each K must be between 1 and 500")
    if not 1 <= args.messages <= 100_000:
        parser.error("--messages: must be between 1 and 100000")
    if args.rate < 0:
        parser.error("--rate: must be 0 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        broker, port = (None, args.port) if args.port else start_broker(Path(workdir))
        try:
            print(f"broker 127.0.0.1:{port}, {os.cpu_count()} CPUs, {args.messages} messages per agent, QoS 1")
            print("| " + " | ".join(title for _, title, _ in COLUMNS) + " |")
            print("|" + "---|" * len(COLUMNS))
            for agents in args.agents:
                print(format_row(run_round(agents, args.messages, args.rate, port, broker and broker.pid, args.timeout)),
                      flush=True)
        finally:
            if broker is not None:
                broker.terminate()
                broker.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
