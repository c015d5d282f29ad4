"""The monitor's MQTT side: a paho client (the agent's make_client) subscribed to <prefix>/#, feeding a queue.

Every message is checked against edge/schema/ before it is queued. A bad one is counted and logged (once
per topic) and goes no further: paho's network thread must never see an exception, or it dies and the
monitor stays up, deaf. A retained bad message is therefore only one more count at every start.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
import time

import paho.mqtt.client as mqtt

from edge.config import MqttConfig
from edge.monitor.records import InvalidMessage, Record, parse
from edge.publisher import make_client

logger = logging.getLogger(__name__)

AUTH_CODES = {4, 5, 134, 135}  # MQTT 3.1.1 and 5: bad user name or password, not authorized


def connect_failure(exc: Exception, host: str, tls: bool) -> tuple[str, bool]:
    """(why connecting failed, in words: refused, DNS, TLS, timed out, or the system's own text; whether it is for good)."""
    if tls and isinstance(exc, (ssl.SSLError, ConnectionResetError)):
        return describe_tls_failure(exc), True
    return describe_failure(exc, host), False


def describe_failure(exc: Exception, host: str) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name {host!r} (DNS: {exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the broker running, and on this port?)"
    if isinstance(exc, TimeoutError):
        return "timed out (a firewall, or the wrong host?)"
    return getattr(exc, "strerror", None) or str(exc)


def describe_tls_failure(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the broker's certificate was not accepted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc}; is it a TLS port?)"
    return "TLS handshake failed (the broker closed the connection: is it a TLS port?)"


class Subscriber:
    """Connects in the background; every fleet message lands in `records` as a Record."""

    def __init__(self, config: MqttConfig, client_id: str):
        self.config = config
        self.records: queue.Queue[Record] = queue.Queue()
        self.refused: str | None = None  # the broker said no (auth), or TLS failed: trying again will not help
        self.failure: str | None = None  # why the latest attempt to connect failed
        self.connected_once = threading.Event()
        self.invalid = 0
        self._invalid_topics: set[str] = set()
        self._stopping = threading.Event()
        self._client = make_client(config, client_id)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._connector = threading.Thread(target=self._connect_until_up, name="monitor-connect", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def start(self) -> None:
        """Connect in the background, retrying (each new cause logged once); paho reconnects after that."""
        logger.info("connecting to %s", self.address)
        self._connector.start()

    def stop(self) -> None:
        self._stopping.set()
        self._connector.join(5)
        self._client.disconnect()
        self._client.loop_stop()

    def _connect_until_up(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            try:
                self._client.connect(self.config.host, self.config.port, keepalive=self.config.keepalive)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                tls = self.config.tls.enabled or self.config.tls.ca_file is not None
                self._failed(*connect_failure(exc, self.config.host, tls))
                if self.refused:
                    return
                self._stopping.wait(delay)
                delay = min(2 * delay, self.config.reconnect_max_seconds)
                continue
            self._client.loop_start()
            return

    def _failed(self, cause: str, fatal: bool = False) -> None:
        if cause != self.failure and not fatal:  # a fatal one ends the watch, which says it once
            logger.warning("cannot connect to %s: %s; retrying", self.address, cause)
        self.failure = cause
        if fatal:
            self.refused = cause

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            hint = " (check --mqtt-username and the password)" if reason_code.value in AUTH_CODES else ""
            self.refused = self.failure = f"the broker refused the connection: {reason_code}{hint}"
            client.disconnect()
            return
        self.connected_once.set()
        self.failure = None
        client.subscribe(f"{self.config.topic_prefix}/#", qos=self.config.qos)
        logger.info("subscribed to %s/# on %s", self.config.topic_prefix, self.address)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.refused or self._stopping.is_set():
            return
        if not self.connected_once.is_set():
            self._failed("the broker closed the connection without answering (a TLS port without TLS?)")
        else:
            logger.warning("lost the connection to %s (%s); reconnecting", self.address, reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        try:
            record = parse(message.topic, message.payload, self.config.topic_prefix, time.time())
        except InvalidMessage as exc:
            self._reject(message.topic, str(exc))
            return
        except Exception as exc:  # the last guard of paho's thread: whatever a payload does, it must live on
            self._reject(message.topic, f"cannot be read ({type(exc).__name__}: {exc})")
            return
        if record is None:
            logger.debug("ignoring %s: not a fleet message", message.topic)
            return
        self.records.put(record)

    def _reject(self, topic: str, reason: str) -> None:
        self.invalid += 1
        if topic not in self._invalid_topics:
            self._invalid_topics.add(topic)
            logger.warning("%s: invalid message rejected, %s (further ones on this topic are only counted)",
                           topic, reason)
