import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge.agent import assemble
from edge.config import EdgeConfig
from edge.demo import CLIP
from edge.metadata import file_sha256
from edge.publisher import wait_until
from edge.schemas import validators as schema_validators
from mosquitto import Broker, free_port
from mqtt_clients import Client


@pytest.fixture(scope="module")
def validators() -> dict:
    """topic leaf -> JSON Schema validator of edge/schema/<leaf>.schema.json (fer-monitor checks with the same)."""
    return schema_validators()


def settings(tmp_path: Path, model: Path, port: int, **sections) -> dict:
    base = {
        "device_id": "cam1",
        "trigger": {"kind": "motion", "quiet_seconds": 0},
        "camera": {"source": str(CLIP), "fps": 30},
        "classifier": {"model": str(model)},
        "mqtt": {"port": port, "host": "127.0.0.1", "reconnect_max_seconds": 1},
        "outbox": {"path": str(tmp_path / "outbox.sqlite3")},
    }
    for section, values in sections.items():
        base[section] = base.get(section, {}) | values
    return base


def drain(client: Client) -> list:
    messages = []
    while not client.messages.empty():
        message = client.next_message()
        messages.append((message.topic, json.loads(message.payload) if message.payload else None))
    return messages


def test_demo_clip_results_reach_a_subscriber_as_documented(broker, tmp_path, tflite_model, validators):
    subscriber = Client(broker, "watcher")
    assert subscriber.wait_connected()
    subscriber.subscribe("#")
    agent = assemble(EdgeConfig.model_validate(settings(tmp_path, tflite_model, broker.port)))
    agent.run(threading.Event(), pace=False)
    time.sleep(0.3)
    messages = drain(subscriber)
    for topic, payload in messages:
        if not topic.startswith("homeassistant/"):
            validators[topic.rsplit("/", 1)[1]].validate(payload)
    by_leaf = lambda leaf: [p for t, p in messages if t.endswith(leaf)]
    events = by_leaf("/event")
    assert len(events) >= 3 and sum(e["faces"] for e in events) == len(by_leaf("/emotion")) > 20
    assert {e["event"] for e in by_leaf("/emotion")} <= {e["event"] for e in events}
    assert [s["state"] for s in by_leaf("/status")][::len(by_leaf("/status")) - 1] == ["online", "offline"]
    assert {s["model_sha256"] for s in by_leaf("/status")} == {file_sha256(tflite_model)}
    assert by_leaf("/status")[0]["expire_after"] == 3 * 60 and by_leaf("/status")[0]["health"]["refused"] == 0
    old, new = "homeassistant/sensor/fer_cam1/emotion/config", "homeassistant/device/fer_cam1/config"
    discovery = [(t, p) for t, p in messages if t.startswith("homeassistant/")]
    assert discovery[0] == (old, {"migrate_discovery": True}) and discovery[1][0] == new and discovery[2] == (old, None)
    later = Client(broker, "later")  # what Home Assistant finds retained when it starts
    assert later.wait_connected()
    later.subscribe("homeassistant/#")
    time.sleep(0.3)
    assert [t for t, _ in drain(later)] == [new]
    assert "image" not in by_leaf("/emotion")[0]


def test_face_image_only_when_asked(broker, tmp_path, tflite_model):
    subscriber = Client(broker, "watcher")
    assert subscriber.wait_connected()
    subscriber.subscribe("fer/cam1/emotion")
    config = settings(tmp_path, tflite_model, broker.port, publish={"include_face_image": True}, trigger={"kind": "always"})
    assemble(EdgeConfig.model_validate(config)).run(threading.Event(), pace=False)
    assert subscriber.next_message().payload.startswith(b"{") and "image" in json.loads(subscriber.next_message().payload)


def outbox_ids(path: Path) -> list[str]:
    """Ids waiting in an agent's outbox, oldest first (none while the file is still being created)."""
    try:
        with sqlite3.connect(path) as db:
            return [row[0] for row in db.execute("SELECT id FROM outbox ORDER BY seq")]
    except sqlite3.OperationalError:
        return []


def start_daemon(config: Path) -> subprocess.Popen:
    """`fer-edge run` as a process of its own, logging to daemon.log beside its config."""
    log = open(config.with_name("daemon.log"), "a")
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], stderr=log)


def test_killed_daemon_loses_nothing_from_its_full_outbox_and_stops_cleanly_on_sigterm(tmp_path, tflite_model):
    port = free_port()
    config = tmp_path / "edge.toml"
    outbox = tmp_path / "outbox.sqlite3"
    config.write_text(
        f'device_id = "cam1"\n[trigger]\nkind = "always"\n[camera]\nsource = "{CLIP}"\nfps = 30\nloop = true\n'
        f'[classifier]\nmodel = "{tflite_model}"\n[mqtt]\nport = {port}\nreconnect_max_seconds = 1\n'
        f'[outbox]\npath = "{outbox}"\nmax_messages = 50\n'
    )
    daemon = start_daemon(config)
    try:
        assert wait_until(lambda: len(outbox_ids(outbox)) == 50, 60)
        time.sleep(0.5)  # let drop-oldest turn over a few rows
    finally:
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
    queued = outbox_ids(outbox)
    broker = Broker(tmp_path, port=port).start()
    subscriber = Client(broker, "watcher")
    try:
        assert subscriber.wait_connected()
        subscriber.subscribe("fer/cam1/#")
        daemon = start_daemon(config)
        assert wait_until(lambda: subscriber.messages.qsize() > len(queued) + 10, 30)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0, (tmp_path / "daemon.log").read_text()
        time.sleep(0.2)
        messages = drain(subscriber)
    finally:
        subscriber.close()
        broker.stop()
    received = [p["id"] for t, p in messages if not t.endswith("/status")]
    assert received[: len(queued)] == queued
    assert len(received) == len(set(received))
    assert messages[-1][1]["state"] == "offline" and any(t.endswith("/event") for t, _ in messages)

def test_pir_opens_the_event_that_reads_frames(broker, tmp_path, tflite_model):
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    previous, Device.pin_factory = Device.pin_factory, MockFactory()
    subscriber = Client(broker, "watcher")
    assert subscriber.wait_connected()
    subscriber.subscribe("fer/cam1/#")
    config = settings(tmp_path, tflite_model, broker.port, trigger={"kind": "pir"}, camera={"loop": True})
    agent = assemble(EdgeConfig.model_validate(config))
    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,))
    runner.start()
    try:
        time.sleep(0.5)
        assert agent.counters.frames == 0  # no motion, no frames read
        Device.pin_factory.pin(17).drive_high()
        assert wait_until(lambda: agent.counters.faces > 0, 10)
        Device.pin_factory.pin(17).drive_low()
        assert wait_until(lambda: agent.counters.events == 1, 5)
    finally:
        stop.set()
        runner.join()
        Device.pin_factory.reset()
        Device.pin_factory = previous
    [event] = [json.loads(m.payload) for m in list(subscriber.messages.queue) if m.topic.endswith("/event")]
    assert event["trigger"] == "pir" and event["faces"] == agent.counters.faces


def test_two_people_are_two_tracks_in_the_emotions_and_in_the_event(broker, tmp_path, tflite_model, validators):
    from faces import two_faces_passing, write_clip

    clip = write_clip(tmp_path / "two.avi", two_faces_passing(crossing=True))
    subscriber = Client(broker, "watcher")
    assert subscriber.wait_connected()
    subscriber.subscribe("fer/cam1/+")
    config = settings(tmp_path, tflite_model, broker.port, camera={"source": str(clip)}, trigger={"kind": "always"},
                      detector={"kind": "yunet"}, homeassistant={"enabled": False})
    assemble(EdgeConfig.model_validate(config)).run(threading.Event(), pace=False)
    time.sleep(0.3)
    messages = drain(subscriber)
    for topic, payload in messages:
        validators[topic.rsplit("/", 1)[1]].validate(payload)
    emotions = [p for t, p in messages if t.endswith("/emotion")]
    (event,) = [p for t, p in messages if t.endswith("/event")]
    assert sorted({e["track"] for e in emotions}) == [1, 2] and len(emotions) == 48
    assert [(t["track"], t["frames"]) for t in event["tracks"]] == [(1, 24), (2, 24)]
    for track in event["tracks"]:
        labels = [e["label"] for e in emotions if e["track"] == track["track"]]
        assert track["dominant"] in labels


def test_an_installed_model_that_fails_at_start_is_rolled_back_and_the_status_says_so(
        broker, tmp_path, tflite_model, tflite_model_float, validators):
    from edge.bundle import MODEL, pack
    from edge.classifier import TFLiteEmotionClassifier
    from edge.modelstore import CURRENT, install, target

    store = tmp_path / "store"
    for model in (tflite_model, tflite_model_float):
        install(pack(model, tmp_path / f"{model.stem}.bundle").source, store, {}, TFLiteEmotionClassifier)
    (store / target(store, CURRENT) / MODEL).write_bytes(b"truncated")
    subscriber = Client(broker, "watcher")
    assert subscriber.wait_connected()
    subscriber.subscribe("fer/cam1/status")
    config = settings(tmp_path, tflite_model, broker.port, model_store={"path": str(store)})
    config["classifier"] = {}
    assemble(EdgeConfig.model_validate(config)).run(threading.Event(), pace=False)
    time.sleep(0.3)
    statuses = [payload for _, payload in drain(subscriber)]
    for status in statuses:
        validators["status"].validate(status)
    assert statuses and all(s["model_sha256"] == file_sha256(tflite_model) for s in statuses)
    assert statuses[0]["model"] == "tiny_int8" and statuses[0]["rollback"]["from"]["model"] == "tiny_float32"
