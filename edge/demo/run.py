"""fer-edge demo: the agent on the bundled clip with the shipped model, against a real local broker."""

from __future__ import annotations

import signal
import tempfile
import threading
import time
from pathlib import Path

from edge.agent import assemble
from edge.config import EdgeConfig
from edge.demo import CLIP
from edge.demo.mosquitto import LocalMosquitto
from edge.demo.subscriber import PrintingSubscriber
from edge.errors import ConfigError
from edge.modelfile import find_model

DEVICE = "demo"


def demo_config(clip: Path, model: Path, host: str, port: int, workdir: Path, discovery: bool) -> EdgeConfig:
    """The agent's settings for the demo: frame differencing on the clip, played at its own 10 fps."""
    return EdgeConfig.model_validate({
        "device_id": DEVICE,
        "trigger": {"kind": "motion", "quiet_seconds": 0.5},
        "camera": {"kind": "opencv", "source": str(clip), "fps": 10},
        "classifier": {"model": model},
        "mqtt": {"host": host, "port": port},
        "publish": {"health_seconds": 5},
        "outbox": {"path": workdir / "outbox.sqlite3"},
        "homeassistant": {"enabled": discovery},
    })


def parse_broker(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--broker {text!r}: expected HOST:PORT")
    return host, int(port)


def run_demo(broker: str | None = None, model: Path | None = None, clip: Path | None = None) -> int:
    model = find_model(model)
    clip = clip or CLIP
    with tempfile.TemporaryDirectory(prefix="fer-edge-demo-") as tmp:
        local = None if broker else LocalMosquitto(Path(tmp)).start()
        host, port = parse_broker(broker) if broker else (local.host, local.port)
        try:
            # no Home Assistant discovery on someone's own broker: a demo device would appear in their Home Assistant
            config = demo_config(clip, model, host, port, Path(tmp), discovery=local is not None)
            topics = [f"{config.mqtt.topic_prefix}/{DEVICE}/#", f"homeassistant/sensor/fer_{DEVICE}/#"]
            subscriber = PrintingSubscriber(host, port, topics)
            subscriber.subscribed.wait(5)
            print(f"broker {host}:{port}; playing {clip.name} with {model.name}; a subscriber prints what it receives:")
            stop = threading.Event()
            previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
            try:
                assemble(config).run(stop)
            finally:
                signal.signal(signal.SIGINT, previous)
            time.sleep(0.5)  # the last messages are on their way to the subscriber
            subscriber.close()
        finally:
            if local is not None:
                local.stop()
    counts = subscriber.counts
    print(f"received {counts['emotion']} emotion, {counts['event']} event and {counts['status']} status messages")
    return 0 if counts["emotion"] else 1
