"""MQTT publishing through the outbox with paho-mqtt 2.x.

Results go into the outbox, which stores them in groups; they are sent from there at once, without waiting
for their group's commit (edge/outbox.py). A sender thread hands paho at most `window` of them, in order,
only while connected; paho re-sends those itself after a reconnect. A row is deleted when paho reports the
broker's acknowledgement (`on_publish` with the message's mid), so after a crash a result may be sent twice,
with the same id, but never lost. Under MQTT 5 the acknowledgement can carry a refusal (135, "Not authorized",
when the ACL does not let this user write the topic): such a row is counted as refused, logged, and never as
published; sending it again would not help. The outbox groups its writes (edge/outbox.py); the sender thread
also commits a group when it is due. Status and discovery messages bypass the outbox: only their latest value
matters, and they are re-sent on every connect.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

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
        will: Callable[[], tuple[str, dict[str, Any]]],
        on_connect: Callable[[], list[tuple[str, dict[str, Any] | None]]],
        resend_on: str | None = None,
    ):
        self.config = config
        self.client_id = client_id
        self.outbox = outbox
        self.published = 0
        self.refused = 0
        self._on_connect_messages = on_connect
        self._resend_on = resend_on
        self._client = make_client(config, client_id)
        self._will = will
        self._client.on_pre_connect = self._set_will
        self._client.on_connect = self._handle_connect
        self._client.on_connect_fail = self._handle_connect_fail
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_publish = self._handle_publish
        self._client.on_message = self._handle_message
        self._client.on_log = self._note_socket_error
        self._socket_error: str | None = None
        self._connected = threading.Event()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._acks: queue.SimpleQueue[tuple[int, ReasonCode]] = queue.SimpleQueue()
        self._inflight: dict[int, Message] = {}  # mid -> outbox row; touched only by the sender thread
        self._last_seq = 0
        self._max_packet: int | None = None  # the broker's Maximum Packet Size (MQTT 5 CONNACK), if it has one
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
        logger.info(
            "mqtt stopped: %d published, %d refused by the broker, %d still queued in the outbox",
            self.published, self.refused, len(self.outbox),
        )

    def _set_will(self, client, userdata) -> None:
        """A fresh offline status (a new id) for each connection: the broker sends the will of each connection
        that drops, and subscribers drop a message whose id they have seen, so a reused will would say offline once."""
        topic, payload = self._will()
        client.will_set(topic, encode(payload), qos=1, retain=True)

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("broker %s:%d refused the connection: %s", self.config.host, self.config.port, reason_code)
            return
        logger.info("connected to %s:%d; %d messages queued", self.config.host, self.config.port, len(self.outbox))
        self._max_packet = getattr(properties, "MaximumPacketSize", None)
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
        for topic, payload in self._on_connect_messages():  # a None payload clears a retained topic
            client.publish(topic, b"" if payload is None else encode(payload), qos=1, retain=True)

    def _handle_connect_fail(self, client, userdata) -> None:
        # paho calls this inside its `except OSError:`, so the exception at hand is the reason
        problem = connect_problem(sys.exc_info()[1], self.config)
        host, port = self.config.host, self.config.port
        logger.warning("%s (broker %s:%d); retrying (%d messages queued)", problem, host, port, len(self.outbox))

    def _note_socket_error(self, client, userdata, level, buf) -> None:
        # under TLS 1.3 a refused client certificate surfaces on the first read, which paho only logs
        if level == mqtt.MQTT_LOG_ERR and "socket" in buf:
            self._socket_error = buf

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        error, self._socket_error = self._socket_error, None
        if self._stopping.is_set():
            pass
        elif self._connected.is_set():
            logger.warning("disconnected from broker: %s; queueing in the outbox", reason_code)
        elif error is not None:
            problem = refused_handshake(error, self.config) or f"connection lost before the broker answered ({error})"
            logger.warning("%s (broker %s:%d); retrying", problem, self.config.host, self.config.port)
        self._connected.clear()

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acks.put((mid, reason_code))
        self._wake.set()

    def _send_loop(self) -> None:
        while not self._stopping.is_set():
            due = self.outbox.due_in()
            self._wake.wait(0.5 if due is None else min(0.5, due))
            self._wake.clear()
            try:
                self._settle_acks()
                self.outbox.commit_if_due()
                if self.connected:
                    self._send_more()
            except sqlite3.Error as exc:  # a full or failing disk: keep the thread, try again shortly
                logger.error("outbox: %s; retrying", exc)
                self._stopping.wait(1.0)

    def _settle_acks(self) -> None:
        while True:
            try:
                mid, reason_code = self._acks.get_nowait()
            except queue.Empty:
                return
            message = self._inflight.pop(mid, None)
            if reason_code.is_failure:
                self._count_refusal(message, reason_code)
            if message is not None:
                self.outbox.acknowledge(message.seq)
                self.published += not reason_code.is_failure

    def _count_refusal(self, message: Message | None, reason_code: ReasonCode) -> None:
        """MQTT 5 only: the broker took the message and will not deliver it (e.g. 135, not authorized)."""
        self.refused += 1
        if self.refused == 1 or self.refused % 100 == 0:
            what = f"message {message.id} on {message.topic}" if message else "a status or discovery message"
            logger.error(
                "broker refused %s: %s (%d); %d refused so far, none of them counted as published "
                "(does the broker's ACL let this device's user write there?)",
                what, reason_code, reason_code.value, self.refused,
            )

    def _send_more(self) -> None:
        room = WINDOW - len(self._inflight)
        if room <= 0:
            return
        for message in self.outbox.after(self._last_seq, room):
            if self._too_large(message):
                continue
            info = self._client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                logger.warning("paho refused message %s: %s; will retry", message.id, mqtt.error_string(info.rc))
                return
            self._inflight[info.mid] = message
            self._last_seq = message.seq

    def _too_large(self, message: Message) -> bool:
        """Refuse here what the broker would answer by disconnecting us, again after every reconnect."""
        size = packet_size(message)
        if self._max_packet is None or size <= self._max_packet:
            return False
        logger.error("message %s on %s is %d bytes, over the broker's limit of %d", message.id, message.topic,
                     size, self._max_packet)
        self._count_refusal(message, ReasonCode(PacketTypes.DISCONNECT, "Packet too large"))
        self.outbox.acknowledge(message.seq)
        self._last_seq = message.seq
        return True


def packet_size(message: Message) -> int:
    """Bytes of the PUBLISH packet: header, topic, packet id, properties length, payload (MQTT 5, section 3.3)."""
    remaining = 2 + len(message.topic.encode()) + (2 if message.qos else 0) + 1 + len(message.payload)
    length_bytes = 1 + (remaining >= 128) + (remaining >= 16384) + (remaining >= 2097152)
    return 1 + length_bytes + remaining


def connect_problem(exc: BaseException | None, config: MqttConfig) -> str:
    """Why a connection attempt failed, in words: a rejected certificate is named, not 'cannot reach'."""
    tls = config.tls
    if isinstance(exc, ssl.SSLCertVerificationError):
        trusted = f"the CAs in {tls.ca_file}" if tls.ca_file else "the system CAs"
        return f"TLS: the broker's certificate was rejected ({exc.verify_message}; checked against {trusted})"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        return refused_handshake(reason, config) or f"TLS handshake failed ({reason})"
    if isinstance(exc, OSError):
        return f"cannot reach broker ({exc.strerror or exc})"
    return "cannot reach broker"


def refused_handshake(reason: str, config: MqttConfig) -> str | None:
    """The broker's TLS alert (e.g. TLSV1_ALERT_UNKNOWN_CA, SSLV3_ALERT_CERTIFICATE_EXPIRED) in words, else None."""
    if "ALERT" not in reason.upper():
        return None
    ours = f"our client certificate {config.tls.cert_file}" if config.tls.cert_file else "the TLS handshake"
    return f"TLS: the broker rejected {ours} ({reason})"


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `condition` until true or `timeout`; for callers outside the sender thread."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
    return True
