"""Benchmark the whole pipeline on a video, on one CPU core: `python -m edge.bench VIDEO` or `fer-edge bench VIDEO`.

Frames are read as fast as the pipeline takes them; results go through the outbox to a private Mosquitto,
and a subscriber timestamps their arrival. Latency is from a frame's capture (its emotion message's
`timestamp`) to the subscriber holding that message.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt

from edge.agent import Agent, assemble
from edge.config import EdgeConfig
from edge.demo.mosquitto import LocalMosquitto
from edge.modelfile import find_model

STAGES = ("capture", "motion", "detect", "classify", "publish")


def pin_to_one_core() -> int:
    """Run this process (and OpenCV) on a single core, as on the smallest Pi; returns the core."""
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    cv2.setNumThreads(1)
    return core


class LatencyProbe:
    """Subscribes to the emotion topic and keeps, per message, arrival time minus capture timestamp."""

    def __init__(self, host: str, port: int, topic: str):
        self.latencies: list[float] = []
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fer-edge-bench-probe")
        self._client.on_connect = lambda client, *args: client.subscribe(topic, 1)
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()
        self._subscribed.wait(5)

    def _on_message(self, client, userdata, message) -> None:
        captured = datetime.fromisoformat(json.loads(message.payload)["timestamp"].replace("Z", "+00:00"))
        self.latencies.append(time.time() - captured.timestamp())

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def frame_size(video: Path) -> str:
    capture = cv2.VideoCapture(str(video))
    size = f"{int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))}x{int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))}"
    capture.release()
    return size


def bench_config(video: Path, model: Path, port: int, workdir: Path, flip_average: bool | None = None) -> EdgeConfig:
    return EdgeConfig.model_validate({
        "device_id": "bench",
        "trigger": {"kind": "motion", "quiet_seconds": 0.5},
        "camera": {"source": str(video)},
        "classifier": {"model": model, "threads": 1, "flip_average": flip_average},
        "mqtt": {"host": "127.0.0.1", "port": port},
        "outbox": {"path": workdir / "outbox.sqlite3"},
        "homeassistant": {"enabled": False},
    })


def format_table(agent: Agent, seconds: float, latencies: list[float], header: str) -> str:
    summary = agent.times.summary()
    lines = [header, "", f"{'stage':<10} {'calls':>6} {'median ms':>10} {'p95 ms':>8}"]
    for stage in STAGES:
        if stage in summary:
            count, median, p95 = summary[stage]
            lines.append(f"{stage:<10} {count:>6} {median * 1e3:>10.2f} {p95 * 1e3:>8.2f}")
    frames = agent.counters.frames
    faces = agent.counters.faces
    lines += ["", f"frames per second: {frames / seconds:.1f} ({frames} frames in {seconds:.2f} s, {faces} faces)"]
    if latencies:
        median, p95 = np.median(latencies) * 1e3, np.percentile(latencies, 95) * 1e3
        lines.append(f"capture-to-delivery latency: median {median:.1f} ms, p95 {p95:.1f} ms ({len(latencies)} faces)")
    return "\n".join(lines)


def run_bench(video: Path, model: Path | None = None, flip_average: bool | None = None) -> int:
    model = find_model(model)
    core = pin_to_one_core()
    with tempfile.TemporaryDirectory(prefix="fer-edge-bench-") as tmp:
        broker = LocalMosquitto(Path(tmp)).start()
        try:
            config = bench_config(video, model, broker.port, Path(tmp), flip_average)
            probe = LatencyProbe(broker.host, broker.port, f"{config.mqtt.topic_prefix}/bench/emotion")
            agent = assemble(config)
            started = time.perf_counter()
            agent.run(threading.Event(), pace=False)
            seconds = time.perf_counter() - started
            time.sleep(0.5)
            probe.close()
        finally:
            broker.stop()
    classifier = agent.classifier
    header = (
        f"fer-edge bench: {video.name}, {model.name} ({classifier.input_dtype} input, {classifier.runtime}"
        f"{', flip-averaged' if classifier.flip_average else ''}), {frame_size(video)} frames, 1 thread on core {core}"
    )
    print(format_table(agent, seconds, probe.latencies, header))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge.bench", description=__doc__.splitlines()[0])
    from edge.cli import FLIP_AVERAGE, add_bench_arguments
    from edge.logs import configure_logging

    add_bench_arguments(parser)
    args = parser.parse_args(argv)
    from edge.errors import run_guarded

    configure_logging("WARNING", verbose=args.verbose)
    return run_guarded("fer-edge bench", lambda: run_bench(args.video, args.model, FLIP_AVERAGE[args.flip_average]))


if __name__ == "__main__":
    raise SystemExit(main())
