"""The monitor's MQTT side: a paho client (the agent's make_client) subscribed to <prefix>/#, feeding a queue."""

from __future__ import annotations

import logging
import queue
import time

import paho.mqtt.client as mqtt

from edge.config import MqttConfig
from edge.monitor.records import Record, parse
from edge.publisher import make_client

logger = logging.getLogger(__name__)


class Subscriber:
    """Connects in the background; every fleet message lands in `records` as a Record."""

    def __init__(self, config: MqttConfig, client_id: str):
        self.config = config
        self.records: queue.Queue[Record] = queue.Queue()
        self.refused: str | None = None
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
        record = parse(message.topic, message.payload, self.config.topic_prefix, time.time())
        if record is None:
            logger.debug("ignoring %s: not a fleet message", message.topic)
            return
        self.records.put(record)
