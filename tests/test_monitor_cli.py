"""fer-monitor through its front door: a real Mosquitto, messages built by the agent's own edge/messages.py."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest

from edge.classifier import Emotion
from edge.labels import EMOTIONS
from edge.messages import Topics, emotion_message, status_message
from edge.monitor.cli import main
from edge.monitor.store import SCHEMA
from edge.publisher import encode
from mosquitto import Broker, free_port
from mqtt_clients import Client


def face(device: str, label: str, at: float) -> dict:
    probabilities = {name: (0.9 if name == label else 0.1 / 6) for name in EMOTIONS}
    return emotion_message(device, "m", "ev1", at, (1, 2, 30, 30), Emotion(label, 0.9, probabilities))


def publish_after_subscription(broker, client_id: str, messages: list[tuple[str, dict]]) -> threading.Thread:
    """Publish once the broker has logged the monitor's SUBSCRIBE (it handles packets one at a time)."""

    def run():
        deadline = time.monotonic() + 10
        while f"Received SUBSCRIBE from {client_id}" not in broker.log.read_text():
            assert time.monotonic() < deadline, "the monitor never subscribed"
            time.sleep(0.05)
        device = Client(broker, "test-device")
        device.wait_connected()
        for topic, payload in messages:
            device.publish(topic, encode(payload))
        device.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def watch(broker, tmp_path, *extra: str) -> int:
    return main(["watch", "--port", str(broker.port), "--host", broker.host, "--client-id", "monitor-under-test",
                 "--sqlite", str(tmp_path / "m.db"), "--jsonl", str(tmp_path / "m.jsonl"), "--no-table", *extra])


def test_watch_stores_each_message_once(broker, tmp_path, capsys):
    topics = Topics("fer", "pi-01")
    happy = face("pi-01", "happy", 1_700_000_000)
    messages = [(topics.status, status_message("pi-01", "m", "online", 1_700_000_000)),
                (topics.emotion, happy), (topics.emotion, happy), (topics.emotion, face("pi-01", "sad", 1_700_000_001))]
    sender = publish_after_subscription(broker, "monitor-under-test", messages)
    assert watch(broker, tmp_path, "--duration", "3") == 0
    sender.join()
    with sqlite3.connect(tmp_path / "m.db") as db:
        rows = db.execute("SELECT kind, label FROM messages ORDER BY received_at").fetchall()
    assert rows == [("status", None), ("emotion", "happy"), ("emotion", "sad")]
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 3
    assert "1 duplicates dropped" in capsys.readouterr().err


def test_watch_with_table_prints_the_device(broker, tmp_path, capsys):
    sender = publish_after_subscription(broker, "monitor-under-test", [("fer/pi-07/emotion", face("pi-07", "fear", 1))])
    assert watch(broker, tmp_path, "--duration", "2", "--table") == 0
    sender.join()
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("pi-07"))
    assert "fear" in row


def test_report_plots_a_png(tmp_path, capsys):
    db = sqlite3.connect(tmp_path / "m.db")
    db.executescript(SCHEMA)
    for i, label in enumerate(["happy", "sad", "happy", "neutral"]):
        payload = face("pi-01", label, 1_700_000_000 + 60 * i)
        db.execute("INSERT INTO messages VALUES (?, 'pi-01', 'emotion', 't', ?, 0, ?, ?)",
                   (payload["id"], payload["timestamp"], label, json.dumps(payload)))
    db.commit()
    assert main(["report", str(tmp_path / "m.db"), "-o", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, message", [
    (["watch", "--port", "70000"], "--port"),
    (["watch", "--ca-file", "/no/such/ca.crt"], "--ca-file /no/such/ca.crt"),
    (["watch", "--password-file", "/no/such/file", "--username", "u"], "/no/such/file"),
    (["report", "/no/such.db", "-o", "x.png"], "/no/such.db"),
])
def test_bad_input_is_one_error_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fer-monitor: error: ") and message in err and "\n" not in err


def test_refused_connection_is_an_error(tmp_path, capsys):
    port = free_port()
    locked = Broker(tmp_path, port=port, extra_config=f"listener {port} 127.0.0.1\nallow_anonymous false\n").start()
    try:
        assert main(["watch", "--port", str(locked.port), "--host", locked.host, "--duration", "5", "--no-table"]) == 1
    finally:
        locked.stop()
    assert "refused the connection" in capsys.readouterr().err
