"""fer-edge demo: the agent on the bundled clip with the shipped model, against a real local broker."""

from __future__ import annotations

import signal
import tempfile
import threading
import time
from pathlib import Path

from edge.agent import assemble
from edge.config import EdgeConfig
from edge.demo import CLIP, labels_path
from edge.demo.embedded import EmbeddedBroker, amqtt_available
from edge.demo.mosquitto import LocalMosquitto, find_mosquitto
from edge.demo.subscriber import PrintingSubscriber
from edge.demo.truth import FrameClock, Scorer, load_labels
from edge.errors import ConfigError, FerEdgeError
from edge.modelfile import find_model

DEVICE = "demo"

def demo_config(
    clip: Path, model: Path, host: str, port: int, workdir: Path, discovery: bool, protocol: str | None = None
) -> EdgeConfig:
    """The agent's settings for the demo: frame differencing on the clip, played at its own 10 fps."""
    mqtt = {"host": host, "port": port} | ({"protocol": protocol} if protocol else {})
    return EdgeConfig.model_validate({
        "device_id": DEVICE,
        "trigger": {"kind": "motion", "quiet_seconds": 0.5},
        "camera": {"kind": "opencv", "source": str(clip), "fps": 10},
        "classifier": {"model": model},
        "mqtt": mqtt,
        "publish": {"health_seconds": 5},
        "outbox": {"path": workdir / "outbox.sqlite3"},
        "homeassistant": {"enabled": discovery},
    })

def parse_broker(text: str) -> tuple[str, int]:
    """HOST:PORT, an IPv6 address in brackets ([::1]:1883), the port 1..65535."""
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ConfigError(f"--broker {text!r}: expected HOST:PORT, the port a number from 1 to 65535")
    return host, int(port)

def local_broker(kind: str, workdir: Path):
    """Mosquitto where it is installed (auto), else amqtt in this process; not yet started."""
    if kind == "mosquitto" or (kind == "auto" and find_mosquitto()):
        return LocalMosquitto(workdir)
    if amqtt_available():
        return EmbeddedBroker()
    raise FerEdgeError(
        "no broker for the demo: install Mosquitto (apt install mosquitto) or amqtt (pip install 'fer-edge[demo]'), "
        "or pass --broker HOST:PORT"
    )

def run_demo(
    broker: str | None = None, model: Path | None = None, clip: Path | None = None, local: str = "auto"
) -> int:
    model = find_model(model)
    clip = clip or CLIP
    labels = load_labels(labels_path(clip)) if labels_path(clip).exists() else None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with tempfile.TemporaryDirectory(prefix="fer-edge-demo-") as tmp:
            server = None if broker else local_broker(local, Path(tmp)).start()
            try:
                host, port = parse_broker(broker) if broker else (server.host, server.port)
                print(f"broker: {server.name if server else 'yours'} on {host}:{port}")
                counts, scorer = play(clip, model, host, port, Path(tmp), labels, stop, server)
            finally:
                if server is not None:
                    server.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"received {counts['emotion']} emotion, {counts['event']} event and {counts['status']} status messages")
    if scorer is not None:
        print(scorer.summary())
    return 0 if counts["emotion"] or stop.is_set() else 1

def play(clip: Path, model: Path, host: str, port: int, workdir: Path, labels, stop: threading.Event, server):
    """The agent on the clip until it ends or `stop` is set; (message counts, Scorer or None)."""
    # no Home Assistant discovery on someone's own broker (`server` None): a demo device would appear there
    protocol = getattr(server, "protocol", None)
    config = demo_config(clip, model, host, port, workdir, discovery=server is not None, protocol=protocol)
    agent = assemble(config)
    agent.source = clock = FrameClock(agent.source)
    agent.unsent_note = "%d results were not delivered (the demo's outbox is deleted with it)"
    scorer = Scorer(labels, clock) if labels is not None else None
    topics = [f"{config.mqtt.topic_prefix}/{DEVICE}/#", f"{config.homeassistant.discovery_prefix}/+/fer_{DEVICE}/#"]
    subscriber = PrintingSubscriber(host, port, topics, true_label=scorer.true_label if scorer else None)
    subscriber.subscribed.wait(5)
    print(f"playing {clip.name} with {model.name}; a subscriber prints what it receives (Ctrl-C stops):")
    agent.run(stop)
    time.sleep(0.5)  # the last messages are on their way to the subscriber
    subscriber.close()
    return subscriber.counts, scorer
