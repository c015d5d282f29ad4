"""MQTT publishing through the outbox with paho-mqtt 2.x.

Results are stored before they are sent. A sender thread hands paho at most `window` of them, in order,
only while connected; paho re-sends those itself after a reconnect. A row is deleted when paho reports the
broker's acknowledgement (`on_publish` with the message's mid), so after a crash a result may be sent twice,
with the same id, but never lost. Status and discovery messages bypass the outbox: only their latest value
matters, and they are re-sent on every connect.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from edge.config import MqttConfig
from edge.errors import ConfigError
from edge.outbox import Message, Outbox

logger = logging.getLogger(__name__)

WINDOW = 32


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def make_client(config: MqttConfig, client_id: str) -> mqtt.Client:
    """A paho client with the protocol, credentials and TLS the config asks for; not yet connected."""
    protocol = mqtt.MQTTv5 if config.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    client.enable_logger(logging.getLogger("paho"))
    client.reconnect_delay_set(1, config.reconnect_max_seconds)
    client.max_inflight_messages_set(WINDOW)
    if config.username is not None:
        password = config.password.get_secret_value() if config.password is not None else None
        client.username_pw_set(config.username, password)
    tls = config.tls
    if tls.enabled or tls.ca_file is not None:
        try:
            client.tls_set(
                ca_certs=str(tls.ca_file) if tls.ca_file else None,
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (OSError, ssl.SSLError) as exc:
            files = {"ca_file": tls.ca_file, "cert_file": tls.cert_file, "key_file": tls.key_file}
            named = ", ".join(f"{key} {path}" for key, path in files.items() if path)
            raise ConfigError(f"field 'mqtt.tls': cannot load {named or 'the system CAs'} ({exc})") from None
    return client


class MqttPublisher:
    """publish() stores a result and returns at once; flush() waits for the outbox to empty; stop() says goodbye.

    `on_connect` gives the retained messages to publish on every connect, and again whenever "online"
    arrives on `resend_on` (Home Assistant's birth message: it has restarted and forgotten its discovery).
    """

    def __init__(
        self,
        config: MqttConfig,
        outbox: Outbox,
        client_id: str,
        will: tuple[str, dict[str, Any]],
        on_connect: Callable[[], list[tuple[str, dict[str, Any]]]],
        resend_on: str | None = None,
    ):
        self.config = config
        self.client_id = client_id
        self.outbox = outbox
        self.published = 0
        self._on_connect_messages = on_connect
        self._resend_on = resend_on
        self._client = make_client(config, client_id)
        self._client.will_set(will[0], encode(will[1]), qos=1, retain=True)
        self._client.on_connect = self._handle_connect
        self._client.on_connect_fail = self._handle_connect_fail
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_publish = self._handle_publish
        self._client.on_message = self._handle_message
        self._connected = threading.Event()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}  # mid -> outbox seq; touched only by the sender thread
        self._last_seq = 0
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        logger.info("connecting to mqtt://%s:%d as %s", self.config.host, self.config.port, self.client_id)
        self._client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive)
        self._client.loop_start()
        self._sender.start()

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Queue a result durably; it is sent when the broker is reachable."""
        self.publish_all([(topic, payload)])

    def publish_all(self, results: list[tuple[str, dict[str, Any]]]) -> None:
        """Queue several results with one disk sync (all the faces of a frame)."""
        qos = self.config.qos
        self.outbox.put(*(Message(payload["id"], topic, encode(payload), qos) for topic, payload in results))
        self._wake.set()

    def publish_now(self, topic: str, payload: dict[str, Any], retain: bool = True) -> mqtt.MQTTMessageInfo | None:
        """Send a status-like message if connected, skipping the outbox; None when not connected."""
        if not self.connected:
            return None
        return self._client.publish(topic, encode(payload), qos=1, retain=retain)

    def flush(self, timeout: float) -> bool:
        """Wait until every stored message is acknowledged; False if some are still queued at `timeout`."""
        self._wake.set()
        return wait_until(lambda: len(self.outbox) == 0, timeout)

    def stop(self, goodbye: tuple[str, dict[str, Any]] | None = None, timeout: float = 2.0) -> None:
        """Publish `goodbye` (the retained offline status) if connected, then disconnect."""
        if goodbye is not None:
            info = self.publish_now(*goodbye)
            if info is not None:
                info.wait_for_publish(timeout)
        self._stopping.set()
        self._wake.set()
        self._sender.join(timeout)
        # paho 2.2 logs an ERROR when its loop thread notices the socket we closed on purpose
        self._client.disable_logger()
        self._client.disconnect()
        self._client.loop_stop()
        self._settle_acks()
        logger.info("mqtt stopped: %d published, %d still queued in the outbox", self.published, len(self.outbox))

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("broker %s:%d refused the connection: %s", self.config.host, self.config.port, reason_code)
            return
        logger.info("connected to %s:%d; %d messages queued", self.config.host, self.config.port, len(self.outbox))
        self._connected.set()
        if self._resend_on is not None:
            client.subscribe(self._resend_on, qos=1)
        self._announce(client)
        self._wake.set()

    def _handle_message(self, client, userdata, message) -> None:
        if message.payload == b"online":
            logger.info("%s is online again: re-publishing status and discovery", message.topic)
            self._announce(client)

    def _announce(self, client: mqtt.Client) -> None:
        for topic, payload in self._on_connect_messages():
            client.publish(topic, encode(payload), qos=1, retain=True)

    def _handle_connect_fail(self, client, userdata) -> None:
        host, port = self.config.host, self.config.port
        logger.warning("cannot reach broker %s:%d; retrying (%d messages queued)", host, port, len(self.outbox))

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected.is_set() and not self._stopping.is_set():
            logger.warning("disconnected from broker: %s; queueing in the outbox", reason_code)
        self._connected.clear()

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if reason_code.is_failure:  # MQTT 5 only, e.g. "Not authorized": sending it again would not help
            logger.warning("broker refused message %d: %s", mid, reason_code)
        self._acks.put(mid)
        self._wake.set()

    def _send_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                self._settle_acks()
                if self.connected:
                    self._send_more()
            except sqlite3.Error as exc:  # a full or failing disk: keep the thread, try again shortly
                logger.error("outbox: %s; retrying", exc)
                self._stopping.wait(1.0)

    def _settle_acks(self) -> None:
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                return
            seq = self._inflight.pop(mid, None)
            if seq is not None:
                self.outbox.remove(seq)
                self.published += 1

    def _send_more(self) -> None:
        room = WINDOW - len(self._inflight)
        if room <= 0:
            return
        for message in self.outbox.after(self._last_seq, room):
            info = self._client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                logger.warning("paho refused message %s: %s; will retry", message.id, mqtt.error_string(info.rc))
                return
            self._inflight[info.mid] = message.seq
            self._last_seq = message.seq


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `condition` until true or `timeout`; for callers outside the sender thread."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
    return True
