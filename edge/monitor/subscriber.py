"""The monitor's MQTT side: a paho client (the agent's make_client) subscribed to <prefix>/#, feeding a queue.

Every message is checked against edge/schema/ before it is queued. A bad one is counted and logged (once
per topic) and goes no further: paho's network thread must never see an exception, or it dies and the
monitor stays up, deaf. A retained bad message is therefore only one more count at every start.
"""

from __future__ import annotations

import logging
import queue
import time

import paho.mqtt.client as mqtt

from edge.config import MqttConfig
from edge.monitor.records import InvalidMessage, Record, parse
from edge.publisher import make_client

logger = logging.getLogger(__name__)


class Subscriber:
    """Connects in the background; every fleet message lands in `records` as a Record."""

    def __init__(self, config: MqttConfig, client_id: str):
        self.config = config
        self.records: queue.Queue[Record] = queue.Queue()
        self.refused: str | None = None
        self.invalid = 0
        self._invalid_topics: set[str] = set()
        self._client = make_client(config, client_id)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message

    def start(self) -> None:
        logger.info("connecting to %s:%d", self.config.host, self.config.port)
        self._client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refused = str(reason_code)
            logger.error("broker %s:%d refused the connection: %s", self.config.host, self.config.port, reason_code)
            client.disconnect()
            return
        client.subscribe(f"{self.config.topic_prefix}/#", qos=self.config.qos)
        logger.info("subscribed to %s/#", self.config.topic_prefix)

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
