"""A plain paho subscriber that prints one line per message it receives: what a fer-edge consumer sees."""

from __future__ import annotations

import json
import threading
from collections import Counter

import paho.mqtt.client as mqtt

from edge.errors import FerEdgeError


def describe(topic: str, payload: dict, true_label=None) -> str:
    """One human line for a fer-edge message; `true_label(payload)` gives an emotion's true label, if known."""
    if topic.endswith("/emotion"):
        box = payload["box"]
        face = f"face {box['w']}x{box['h']} at ({box['x']},{box['y']})"
        line = f"{payload['label']:<9} {payload['confidence']:.2f}  {face}  event {payload['event'][:8]}"
        if true_label is None:
            return line
        truth = true_label(payload)
        verdict = "not a labelled face" if truth is None else f"true: {truth:<9} " + ("right" if truth == payload["label"] else "WRONG")
        return f"{line}  {verdict}"
    if topic.endswith("/event"):
        return (
            f"event {payload['event'][:8]} closed: {payload['duration_s']:.1f} s, {payload['frames']} frames, "
            f"{payload['faces']} faces, dominant {payload['dominant']}"
        )
    if topic.endswith("/status"):
        health = payload.get("health")
        return payload["state"] + (f"  ({health['frames']} frames, {health['queue_depth']} queued)" if health else "")
    if topic.endswith("/config") and "cmps" in payload:
        entities = ", ".join(f"{c['p']} {c['name']!r}" for c in payload["cmps"].values() if "name" in c)
        return f"Home Assistant discovery of device {payload['dev']['name']!r}: {entities}"
    if topic.endswith("/config"):
        return "Home Assistant discovery: " + ("cleared" if payload is None else json.dumps(payload))
    return json.dumps(payload)[:100]


class PrintingSubscriber:
    """Subscribes to `topics` (QoS 1) and prints each message as it arrives; counts them by topic leaf.

    `true_label`, if given, is asked for each emotion message's true label (see describe()).
    """

    def __init__(self, host: str, port: int, topics: list[str], out=print, true_label=None):
        self.counts: Counter[str] = Counter()
        self._true_label = true_label
        self.subscribed = threading.Event()
        self._topics = topics
        self._out = out
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fer-edge-demo-subscriber")
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args: self.subscribed.set()
        self._client.on_message = self._on_message
        try:
            self._client.connect(host, port)
        except OSError as exc:
            raise FerEdgeError(f"cannot connect to the broker at {host}:{port} ({exc.strerror or exc})") from None
        self._client.loop_start()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe([(topic, 1) for topic in self._topics])

    def _on_message(self, client, userdata, message) -> None:
        try:
            payload = json.loads(message.payload) if message.payload else None
            line = describe(message.topic, payload, self._true_label)
        except (ValueError, KeyError, TypeError):
            line = f"(unreadable) {message.payload[:80]!r}"
        self.counts[message.topic.rsplit("/", 1)[-1]] += 1
        self._out(f"{message.topic:<46} {line}")
