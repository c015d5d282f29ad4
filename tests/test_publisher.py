import json
import logging
import socket
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest

from edge.config import MqttConfig
from edge.errors import ConfigError
from edge.outbox import Outbox
from edge.publisher import MqttPublisher, wait_until
from mosquitto import Broker, free_port

TOPIC = "fer/t/emotion"
# mosquitto keeps sessions across a restart only with persistence; `user root` stops it dropping to a user
# that cannot write tmp_path (ignored when the tests do not run as root)
PERSISTENT = "persistence true\npersistence_location {}/\nuser root\n"


class Subscriber:
    """A persistent-session subscriber (QoS 1) that resubscribes on every connect and keeps what arrives."""

    def __init__(self, host: str, port: int, topic: str):
        self.received: list[dict] = []
        self.subscribed = threading.Event()
        client_id = "sub-" + uuid.uuid4().hex[:8]
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self._client.reconnect_delay_set(0.1, 0.5)
        self._client.on_connect = lambda client, *args: client.subscribe(topic, 1)
        self._client.on_subscribe = lambda *args: self.subscribed.set()
        self._client.on_message = lambda client, userdata, m: self.received.append(json.loads(m.payload))
        self._client.connect(host, port)
        self._client.loop_start()
        assert self.subscribed.wait(5)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def make_publisher(port: int, tmp_path, protocol: str = "3.1.1") -> MqttPublisher:
    config = MqttConfig(host="127.0.0.1", port=port, reconnect_max_seconds=1, protocol=protocol)
    will = lambda: ("fer/t/status", {"id": uuid.uuid4().hex, "state": "offline"})
    return MqttPublisher(config, Outbox(tmp_path / "outbox.sqlite3"), "fer-edge-test", will, on_connect=lambda: [])


def publish_range(publisher: MqttPublisher, numbers: range) -> None:
    for n in numbers:
        publisher.publish(TOPIC, {"id": uuid.uuid4().hex, "n": n})


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_broker_restart_loses_nothing_and_keeps_order(tmp_path, protocol):
    broker = Broker(tmp_path, extra_config=PERSISTENT.format(tmp_path)).start()
    subscriber = Subscriber(broker.host, broker.port, TOPIC)
    publisher = make_publisher(broker.port, tmp_path, protocol)
    publisher.start()
    try:
        publish_range(publisher, range(20))
        assert publisher.flush(10)
        broker.stop()
        publish_range(publisher, range(20, 60))
        assert len(publisher.outbox) == 40
        broker.start()
        assert wait_until(lambda: len(subscriber.received) >= 60, 20)
        assert publisher.flush(5)
    finally:
        publisher.stop()
        subscriber.close()
        broker.stop()
    assert [m["n"] for m in subscriber.received] == list(range(60))
    assert len({m["id"] for m in subscriber.received}) == 60


def test_unreachable_broker_is_retried_and_queued(tmp_path, caplog):
    port = free_port()
    publisher = make_publisher(port, tmp_path)
    with caplog.at_level(logging.WARNING, logger="edge.publisher"):
        publisher.start()
        publish_range(publisher, range(3))
        assert wait_until(lambda: "cannot reach broker" in caplog.text, 5)
    assert len(publisher.outbox) == 3
    broker = Broker(tmp_path, port=port).start()
    subscriber = Subscriber(broker.host, port, TOPIC)
    try:
        assert publisher.flush(10)
        assert wait_until(lambda: len(subscriber.received) == 3, 5)
    finally:
        publisher.stop()
        subscriber.close()
        broker.stop()


def test_home_assistant_birth_message_brings_discovery_again(broker, tmp_path):
    config = MqttConfig(host=broker.host, port=broker.port)
    announce = lambda: [("homeassistant/sensor/fer_t/emotion/config", {"name": "Emotion"})]
    outbox, will = Outbox(tmp_path / "o.sqlite3"), lambda: ("fer/t/status", {})
    publisher = MqttPublisher(config, outbox, "fer-edge-t", will, announce, resend_on="homeassistant/status")
    subscriber = Subscriber(broker.host, broker.port, "homeassistant/sensor/#")
    publisher.start()
    try:
        assert wait_until(lambda: len(subscriber.received) == 1, 5)
        home_assistant = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        home_assistant.connect(broker.host, broker.port)
        home_assistant.loop_start()
        home_assistant.publish("homeassistant/status", b"online", qos=1).wait_for_publish(5)
        assert wait_until(lambda: len(subscriber.received) == 2, 5)
        home_assistant.disconnect()
        home_assistant.loop_stop()
    finally:
        publisher.stop()
        subscriber.close()


def test_missing_ca_file_names_the_field(tmp_path):
    config = MqttConfig(tls={"ca_file": tmp_path / "missing-ca.crt"})
    with pytest.raises(ConfigError, match="field 'mqtt.tls'.*missing-ca.crt"):
        MqttPublisher(config, Outbox(tmp_path / "o.sqlite3"), "t", lambda: ("fer/t/status", {}), on_connect=lambda: [])


def test_each_dropped_connection_leaves_an_offline_will_of_its_own(broker, tmp_path):
    subscriber = Subscriber(broker.host, broker.port, "fer/t/status")
    publisher = make_publisher(broker.port, tmp_path)
    publisher.start()
    try:
        for drop in (1, 2):
            assert wait_until(lambda: publisher.connected, 10)
            publisher._client.socket().shutdown(socket.SHUT_RDWR)  # the link dies: no DISCONNECT, so the will goes
            assert wait_until(lambda: not publisher.connected, 10)
            assert wait_until(lambda: len(subscriber.received) == drop, 10)
            assert wait_until(lambda: publisher.connected, 10)
        ids = {message["id"] for message in subscriber.received}
        assert len(ids) == 2 and {message["state"] for message in subscriber.received} == {"offline"}
    finally:
        publisher.stop()
        subscriber.close()
