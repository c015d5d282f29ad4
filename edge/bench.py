"""Benchmark the whole pipeline on a video, on one CPU core: `python -m edge.bench VIDEO` or `fer-edge bench VIDEO`.

Frames are read as fast as the pipeline takes them; results go through the outbox to a private Mosquitto,
and a subscriber timestamps their arrival. Latency is from a frame's capture (its emotion message's
`timestamp`) to the subscriber holding that message. With `--detector both` each detector runs over the
clip in turn, `--repeats` times, alternating, and the table puts them side by side with their ratio and an
estimate (not a measurement) for a Raspberry Pi 4 and 5. `python -m edge.benchclip` makes a clip with a
face in every frame.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from pydantic import ValidationError

from edge.agent import Agent, assemble
from edge.argparsing import Parser
from edge.config import EdgeConfig, describe_errors
from edge.demo.mosquitto import LocalMosquitto
from edge.detector import YUNET_MODEL, YuNetFaceDetector, iou, working_scale
from edge.errors import CameraError, ConfigError
from edge.modelfile import find_model
from edge.stats import StageTimes

STAGES = ("capture", "motion", "detect", "classify", "publish")
# the settings `fer-edge bench` takes as flags, so that a bad value is named by its flag
FLAGS = {("detector", "every_n_frames"): "--every-n-frames", ("detector", "full_search_every"): "--full-search-every",
         ("outbox", "commit_seconds"): "--commit-seconds"}


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


def frame_size(video: Path) -> tuple[int, int, int]:
    """(width, height, frames) of a video file."""
    capture = cv2.VideoCapture(str(video))
    size = tuple(int(capture.get(p)) for p in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT, cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    return size


def bench_config(
    video: Path, model: Path, port: int, workdir: Path, flip_average: bool | None = None,
    detector: str = "haar", search: dict | None = None, commit_seconds: float | None = None,
) -> EdgeConfig:
    """The pipeline's config for a bench run; `search`: detector settings such as every_n_frames."""
    outbox = {"path": workdir / "outbox.sqlite3"} | ({} if commit_seconds is None else {"commit_seconds": commit_seconds})
    try:
        return EdgeConfig.model_validate({
            "device_id": "bench",
            "trigger": {"kind": "motion", "quiet_seconds": 0.5},
            "camera": {"source": str(video)},
            "detector": {"kind": detector} | (search or {}),
            "classifier": {"model": model, "threads": 1, "flip_average": flip_average},
            "mqtt": {"host": "127.0.0.1", "port": port},
            "outbox": outbox,
            "homeassistant": {"enabled": False},
        })
    except ValidationError as exc:
        raise ConfigError("\n".join(describe_errors(exc, "fer-edge bench", FLAGS))) from None


@dataclass
class Run:
    """One pass of the pipeline over the clip with one detector."""

    detector: str
    seconds: float
    cpu_seconds: float
    agent: Agent
    latencies: list[float]

    @property
    def fps(self) -> float:
        return self.agent.counters.frames / self.seconds

    @property
    def cpu_fps(self) -> float:
        return self.agent.counters.frames / self.cpu_seconds


def run_once(
    video: Path, model: Path, detector: str, search: dict, flip_average, broker, workdir: Path, commit_seconds=None
) -> Run:
    config = bench_config(video, model, broker.port, workdir, flip_average, detector, search, commit_seconds)
    probe = LatencyProbe(broker.host, broker.port, f"{config.mqtt.topic_prefix}/bench/emotion")
    agent = assemble(config)
    agent.times = StageTimes(clock=time.thread_time)  # CPU time of the loop: a busy machine inflates wall time only
    started, cpu_started = time.perf_counter(), time.process_time()
    agent.run(threading.Event(), pace=False)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    time.sleep(0.3)
    probe.close()
    for leftover in workdir.glob("outbox.sqlite3*"):
        leftover.unlink()
    return Run(detector, seconds, cpu_seconds, agent, probe.latencies)


# --- what carrying the boxes changes -------------------------------------------------------------------
class FrameRecorder:
    """Takes the agent's results in place of the publisher: (frame number, emotion message) pairs."""

    def __init__(self, agent: Agent):
        self.agent = agent
        self.emotions: list[tuple[int, dict]] = []

    def publish_all(self, results) -> None:
        self.emotions += [(self.agent.counters.frames, message) for _, message in results]

    def publish(self, topic, message) -> None:
        pass


def emotions_by_frame(video: Path, model: Path, detector: str, search: dict, flip_average, workdir: Path):
    """frame number -> [(box, label)] of every face the agent's own path finds in the clip (no broker)."""
    agent = assemble(bench_config(video, model, 1, workdir, flip_average, detector, search))
    agent.publisher.outbox.close()
    agent.publisher = recorder = FrameRecorder(agent)
    while agent.tick():
        pass
    agent.source.close()
    found: dict[int, list] = {}
    for frame, message in recorder.emotions:
        box = message["box"]
        found.setdefault(frame, []).append(((box["x"], box["y"], box["w"], box["h"]), message["label"]))
    return found


EVERY_FRAME_WHOLE = {"every_n_frames": 1, "full_search_every": 1}
WHOLE_SEARCH_COLUMN = "haar whole"


def describe_search(search: dict) -> str:
    """e.g. 'faces detected every 1 frame(s), the whole frame searched every 5th detection'."""
    text = f"faces detected every {search.get('every_n_frames', 1)} frame(s)"
    every = search.get("full_search_every")
    return text + (f", the whole frame searched in every {every}th detection (Haar)" if every else "")


def carried_agreement(video: Path, model: Path, detector: str, search: dict, flip_average, workdir: Path) -> str:
    """How the faces of the searched `search` compare with those of searching the whole of every frame."""
    every = emotions_by_frame(video, model, detector, EVERY_FRAME_WHOLE, flip_average, workdir)
    carried = emotions_by_frame(video, model, detector, search, flip_average, workdir)
    matched = differ = 0
    for frame, faces in every.items():
        for box, label in faces:
            match = max(carried.get(frame, []), key=lambda other: iou(box, other[0]), default=None)
            if match is not None and iou(box, match[0]) >= 0.3:
                matched += 1
                differ += match[1] != label
    total = sum(len(faces) for faces in every.values()) or 1
    return (f"{detector}, {describe_search(search)}, against the whole of every frame searched: emotion differs for "
            f"{100 * differ / max(matched, 1):.1f}% of {matched} matched faces; {100 * (total - matched) / total:.1f}% "
            f"of those faces have no box over them")


# --- Raspberry Pi estimate -----------------------------------------------------------------------------
# Published per-core peak fp32 multiply-accumulates per cycle and clocks: Cortex-A72 (Pi 4, 1.8 GHz) issues
# one 128-bit NEON FMA a cycle (4 MACs; 8 FLOP/cycle as vfpbench measures it), Cortex-A76 (Pi 5, 2.4 GHz)
# two (8 MACs); an x86 core with AVX2+FMA two 256-bit FMAs (16 MACs), with AVX-512 32.
PI_CORES = {"Raspberry Pi 4": (1.8e9, 4), "Raspberry Pi 5": (2.4e9, 8)}


def x86_core() -> tuple[str, float, int]:
    """(CPU model, clock in Hz, peak fp32 MACs per cycle) of this machine, from /proc/cpuinfo and sysfs."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    field = lambda key: next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith(key)), "")
    flags = field("flags").split()
    per_cycle = 16 if {"avx2", "fma"} <= set(flags) else 4  # AVX-512 parts differ (Zen 4 double-pumps): not counted
    max_freq = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    clock = int(max_freq.read_text()) * 1e3 if max_freq.exists() else float(field("cpu MHz") or 2000) * 1e6
    return field("model name") or "unknown CPU", clock, per_cycle


def yunet_macs(width: int, height: int) -> float:
    """Multiply-accumulates of one YuNet pass on a width x height input (padded to multiples of 32, as it is run)."""
    net = cv2.dnn.readNetFromONNX(str(YUNET_MODEL))
    shape = (1, 3, -(-height // 32) * 32, -(-width // 32) * 32)
    ids, _, outputs = net.getLayersShapes(shape)
    total = 0
    for layer_id, output in zip(ids, outputs):
        layer = net.getLayer(int(layer_id))
        if layer.type == "Convolution" and layer.blobs:
            total += int(np.prod(output[0])) * int(np.prod(layer.blobs[0].shape[1:]))
    return float(total)


def classifier_macs(classifier) -> float:
    """Multiply-accumulates of one face through the TFLite model (convolutions and fully connected layers)."""
    interpreter = classifier._interpreter
    tensors = {t["index"]: t["shape"] for t in interpreter.get_tensor_details()}
    total = 0
    for op in interpreter._get_ops_details():
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        weights, output = tensors[op["inputs"][1]], tensors[op["outputs"][0]]
        if op["op_name"] == "CONV_2D":
            per_output = np.prod(weights[1:])
        elif op["op_name"] == "DEPTHWISE_CONV_2D":
            per_output = weights[1] * weights[2]
        else:
            per_output = weights[-1]
        total += int(np.prod(output[1:])) * int(per_output)  # per face: the batch axis left out
    return float(total)


def slowdown(x86: tuple[str, float, int], pi: str) -> float:
    """How many times longer a Pi core takes for the same multiply-accumulates, at the same efficiency."""
    _, clock, per_cycle = x86
    pi_clock, pi_per_cycle = PI_CORES[pi]
    return clock * per_cycle / (pi_clock * pi_per_cycle)


# --- the report ----------------------------------------------------------------------------------------
def pooled(runs: list[Run]) -> dict[str, tuple[float, float]]:
    """stage -> (median, p95) in ms over the frames of all runs."""
    samples: dict[str, list[float]] = {}
    for run in runs:
        for stage, values in run.agent.times.samples().items():
            samples.setdefault(stage, []).extend(values)
    return {stage: (np.median(v) * 1e3, np.percentile(v, 95) * 1e3) for stage, v in samples.items() if v}


def faces_per_frame(runs: list[Run]) -> str:
    counts = sum((run.agent.counters.faces_in_frame for run in runs), Counter())
    frames = sum(counts.values()) or 1
    share = lambda n: 100 * sum(c for k, c in counts.items() if (k >= n if n == 2 else k == n)) / frames
    return f"{share(0):.1f}/{share(1):.1f}/{share(2):.1f}"


def format_report(runs: dict[str, list[Run]], header: str, x86: tuple[str, float, int], macs: dict[str, str]) -> str:
    kinds = list(runs)
    stages = {kind: pooled(runs[kind]) for kind in kinds}
    width = 18
    lines = [header, "", f"{'':<34}" + "".join(f"{kind:>{width}}" for kind in kinds)]
    for stage in STAGES:
        cells = [stages[k].get(stage) for k in kinds]
        if any(cells):
            lines.append(f"{stage + ' CPU ms, median / p95':<34}" + "".join(
                f"{(f'{c[0]:.2f} / {c[1]:.2f}' if c else '-'):>{width}}" for c in cells))
    fps = {kind: float(np.median([run.cpu_fps for run in runs[kind]])) for kind in kinds}
    wall = {kind: float(np.median([run.fps for run in runs[kind]])) for kind in kinds}
    lines.append(f"{'frames per CPU-second (whole run)':<34}" + "".join(f"{fps[k]:>{width}.1f}" for k in kinds))
    lines.append(f"{'frames per wall-second':<34}" + "".join(f"{wall[k]:>{width}.1f}" for k in kinds))
    lines.append(f"{'faces per frame, % 0 / 1 / 2+':<34}" + "".join(f"{faces_per_frame(runs[k]):>{width}}" for k in kinds))
    latency = {}
    for kind in kinds:
        values = [v for run in runs[kind] for v in run.latencies]
        latency[kind] = f"{np.median(values) * 1e3:.1f} / {np.percentile(values, 95) * 1e3:.1f}" if values else "-"
    lines.append(f"{'capture-to-delivery ms, med / p95':<34}" + "".join(f"{latency[k]:>{width}}" for k in kinds))
    if len(kinds) > 1:
        lines.append("\n" + "; ".join(f"{kind}/{kinds[0]} frames per CPU-second: {fps[kind] / fps[kinds[0]]:.2f}x"
                                      for kind in kinds[1:]))
    model, clock, per_cycle = x86
    lines += ["", f"Raspberry Pi estimate (not measured): the CPU time per frame here times the ratio of per-core peak "
              f"fp32 MAC rates ({model}, {clock / 1e9:.2f} GHz x {per_cycle} MACs/cycle; Pi 4 Cortex-A72 1.8 GHz x 4, "
              f"Pi 5 Cortex-A76 2.4 GHz x 8), as if each stage ran its MACs at the efficiency it has here."]
    lines.append("MACs: " + "; ".join(f"{k}: {v}" for k, v in macs.items()))
    for name in PI_CORES:
        factor = slowdown(x86, name)
        cells = "".join(f"{fps[k] / factor:>{width}.1f}" for k in kinds)
        lines.append(f"{name + f', frames/s (x{factor:.1f} slower)':<34}" + cells)
    return "\n".join(lines)


def run_bench(
    video: Path, model: Path | None = None, flip_average: bool | None = None,
    detectors: tuple[str, ...] = ("haar",), repeats: int = 3, search: dict | None = None,
    commit_seconds: float | None = None, whole_search_baseline: bool = False,
) -> int:
    """Each detector `repeats` times over the clip, alternating, on one core; prints the table. With
    `whole_search_baseline`, a first column runs Haar searching the whole of every frame (the pipeline before
    near looks and carried boxes), so the others' ratios against it hold on any machine."""
    if repeats < 1:
        raise ConfigError(f"--repeats: must be 1 or more (got {repeats})")
    model = find_model(model)
    if not video.is_file():
        raise CameraError(f"{video}: " + ("a folder, not a video file" if video.is_dir() else "no such video file"))
    bench_config(video, model, 1, Path("."), flip_average, detectors[0], search, commit_seconds)  # before any run
    core = pin_to_one_core()
    columns = {kind: (kind, search or {}) for kind in detectors}
    if whole_search_baseline:
        columns = {WHOLE_SEARCH_COLUMN: ("haar", EVERY_FRAME_WHOLE)} | columns
    runs: dict[str, list[Run]] = {label: [] for label in columns}
    with tempfile.TemporaryDirectory(prefix="fer-edge-bench-") as tmp:
        broker = LocalMosquitto(Path(tmp)).start()
        try:
            for _ in range(repeats):
                for label, (kind, settings) in columns.items():
                    runs[label].append(
                        run_once(video, model, kind, settings, flip_average, broker, Path(tmp), commit_seconds)
                    )
        finally:
            broker.stop()
    agent = runs[detectors[0]][0].agent
    classifier = agent.classifier
    search_used = {"every_n_frames": agent.config.detector.every_n_frames,
                   "full_search_every": agent.config.detector.full_search_every}
    width, height, frames = frame_size(video)
    x86 = x86_core()
    scale = working_scale(agent.config.detector, YuNetFaceDetector.SMALLEST)
    work = (round(width / scale), round(height / scale))
    inferences = 2 if classifier.flip_average else 1
    macs = {"classify": f"{classifier_macs(classifier) / 1e6:.1f} M x {inferences} per face"}
    if "yunet" in detectors:
        macs["yunet detect"] = f"{yunet_macs(*work) / 1e6:.1f} M at {work[0]}x{work[1]}"
    header = (
        f"fer-edge bench: {video.name} ({width}x{height}, {frames} frames), {model.name} ({classifier.input_dtype} input, "
        f"{classifier.runtime}{', flip-averaged' if classifier.flip_average else ''}), 1 thread on core {core} of "
        f"{x86[0]}; {repeats} run(s) per detector, alternating; {describe_search(search_used)}; "
        f"outbox commits every {agent.config.outbox.commit_seconds:g} s"
    )
    print(format_report(runs, header, x86, macs))
    if search_used != EVERY_FRAME_WHOLE:
        with tempfile.TemporaryDirectory(prefix="fer-edge-bench-") as tmp:
            print("")
            for kind in detectors:
                if kind == "haar" or search_used["every_n_frames"] > 1:
                    print(carried_agreement(video, model, kind, search_used, flip_average, Path(tmp)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m edge.bench", description=__doc__.splitlines()[0])
    from edge.cli import FLIP_AVERAGE, add_bench_arguments
    from edge.logs import configure_logging

    add_bench_arguments(parser)
    args = parser.parse_args(argv)
    from edge.errors import run_guarded

    configure_logging("WARNING", verbose=args.verbose)
    return run_guarded("fer-edge bench", lambda: bench_from_args(args))


def bench_from_args(args: argparse.Namespace) -> int:
    detectors = ("haar", "yunet") if args.detector == "both" else (args.detector,)
    from edge.cli import FLIP_AVERAGE

    search = {"every_n_frames": args.every_n_frames}
    if args.full_search_every is not None:
        search["full_search_every"] = args.full_search_every
    return run_bench(args.video, args.model, FLIP_AVERAGE[args.flip_average], detectors, args.repeats,
                     search, args.commit_seconds, args.whole_search_baseline)


if __name__ == "__main__":
    raise SystemExit(main())
