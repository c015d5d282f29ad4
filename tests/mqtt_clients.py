"""Real paho clients for tests: connect (optionally with TLS and a password) and collect what arrives."""

from __future__ import annotations

import queue
import threading

import paho.mqtt.client as mqtt


class Client:
    """One connected paho client; `connected.wait()` then `refused` tells whether the broker accepted it."""

    def __init__(self, broker, client_id: str, username: str | None = None, password: str | None = None,
                 tls: tuple[str, str, str] | None = None, protocol: int = mqtt.MQTTv311):
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connected = threading.Event()
        self.refused: str | None = None
        self.disconnects = 0
        self._subscribed = threading.Event()
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        self.paho.on_disconnect = self._on_disconnect
        if username is not None:
            self.paho.username_pw_set(username, password)
        if tls is not None:
            ca, cert, key = tls
            self.paho.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
        self.paho.on_connect = self._on_connect
        self.paho.on_subscribe = lambda *args: self._subscribed.set()
        self.paho.on_message = lambda client, userdata, message: self.messages.put(message)
        self.paho.connect(broker.host, broker.port)
        self.paho.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.refused = str(reason_code) if reason_code.is_failure else None
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnects += 1

    def wait_connected(self, timeout: float = 5.0) -> bool:
        """True when the broker accepted the connection within timeout."""
        return self.connected.wait(timeout) and self.refused is None

    def subscribe(self, topic: str, timeout: float = 5.0) -> None:
        self._subscribed.clear()
        self.paho.subscribe(topic, qos=1)
        assert self._subscribed.wait(timeout), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> mqtt.MQTTMessageInfo:
        info = self.paho.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)
        return info

    def next_message(self, timeout: float = 5.0) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()
