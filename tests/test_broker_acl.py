"""deploy/mosquitto/: the fleet's TLS listener, password file and ACL, on a real Mosquitto."""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from certs import make_certs, sign

from edge.config import MqttConfig, TlsConfig
from edge.homeassistant import discovery_messages
from edge.messages import Topics, status_message
from edge.outbox import Outbox
from edge.publisher import MqttPublisher, wait_until
from mosquitto import Broker, free_port
from mqtt_clients import Client

MOSQUITTO_DIR = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto"
# the passwords are sent and ignored: the shipped listener takes the user name from the certificate
ACCOUNTS = {"pi-01": "pw-one", "pi-02": "pw-two", "fer-reader": "pw-reader"}

pytestmark = [
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed"),
]


def broker_config(files: Path, port: int) -> str:
    """The shipped config with its file paths in files/ and its listener on a loopback port.

    Run as root, mosquitto drops to user `mosquitto`, which cannot read pytest's private tmp_path: stay root.
    """
    text = (MOSQUITTO_DIR / "fer-edge.conf").read_text()
    assert "listener 8883\n" in text
    stay = "user root\n" if os.geteuid() == 0 else ""
    return stay + text.replace("/etc/mosquitto/fer/", f"{files}/").replace("listener 8883\n", f"listener {port} 127.0.0.1\n")


def start_broker(workdir: Path, files: Path) -> Broker:
    """A Mosquitto with the shipped fer-edge.conf and acl, its certificates from files/."""
    shutil.copy(MOSQUITTO_DIR / "acl", files / "acl")
    port = free_port()
    instance = Broker(workdir, port=port, extra_config=broker_config(files, port)).start()
    instance.certs = files
    return instance


@pytest.fixture
def tls_broker(tmp_path):
    instance = start_broker(tmp_path, make_certs(tmp_path / "fer", *ACCOUNTS))
    yield instance
    instance.stop()


@pytest.fixture
def connect(tls_broker):
    clients = []

    def open_client(user: str, password: str | None = None, client_id: str | None = None, cert: str | None = None,
                    protocol: int = mqtt.MQTTv311) -> Client:
        certs, cert = tls_broker.certs, cert or user
        client = Client(tls_broker, client_id or f"{user}-client", user, password or ACCOUNTS[user],
                        (str(certs / "ca.crt"), str(certs / f"{cert}.crt"), str(certs / f"{cert}.key")), protocol)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


def test_the_readmes_broker_set_up_starts_with_the_shipped_config(tmp_path):
    files = make_certs(tmp_path / "fer", "pi-01", broker="mqtt.lan")  # as deploy/README.md says
    broker = start_broker(tmp_path, files)
    try:
        client = Client(broker, "c", tls=(str(files / "ca.crt"), str(files / "pi-01.crt"), str(files / "pi-01.key")))
        assert client.wait_connected()
        client.close()
    finally:
        broker.stop()


def test_device_publishes_and_reader_receives(connect):
    reader, device = connect("fer-reader"), connect("pi-01")
    assert reader.wait_connected() and device.wait_connected()
    reader.subscribe("fer/#")
    device.publish("fer/pi-01/emotion", b'{"id": "a"}')
    message = reader.next_message()
    assert (message.topic, message.payload) == ("fer/pi-01/emotion", b'{"id": "a"}')


def test_certificate_decides_the_user_whatever_name_and_password_are_sent(connect):
    reader, device = connect("fer-reader"), connect("pi-02", cert="pi-01")  # pi-01's certificate, pi-02's password
    assert reader.wait_connected() and device.wait_connected()
    reader.subscribe("fer/#")
    device.publish("fer/pi-02/emotion", b"forged")
    device.publish("fer/pi-01/emotion", b"own")
    assert reader.next_message().payload == b"own"


def test_device_cannot_take_over_another_devices_client_id(connect):
    reader, victim = connect("fer-reader"), connect("pi-01", client_id="fer-edge-pi-01")
    assert reader.wait_connected() and victim.wait_connected()
    reader.subscribe("fer/#")
    intruder = connect("pi-02", client_id="fer-edge-pi-01")
    assert intruder.wait_connected()
    intruder.publish("fer/pi-02/emotion", b"intruder")  # once this is acknowledged, a take-over would have happened
    victim.publish("fer/pi-01/emotion", b"still here")
    assert sorted(reader.next_message().payload for _ in range(2)) == [b"intruder", b"still here"]
    assert victim.disconnects == 0


def test_oversized_message_is_refused(connect):
    reader, device = connect("fer-reader"), connect("pi-01")
    assert reader.wait_connected() and device.wait_connected()
    reader.subscribe("fer/#")
    device.paho.publish("fer/pi-01/emotion", b"x" * 70_000, qos=1)
    assert wait_until(lambda: device.disconnects >= 1, 5)
    with pytest.raises(queue.Empty):
        reader.next_message(timeout=0.5)


def test_device_cannot_write_under_another_device(connect):
    reader, device = connect("fer-reader"), connect("pi-01")
    assert reader.wait_connected() and device.wait_connected()
    reader.subscribe("fer/#")
    device.publish("fer/pi-02/emotion", b"forged")
    device.publish("fer/pi-01/emotion", b"own")  # same publisher, same broker: arrives after the forged one would
    assert reader.next_message().payload == b"own"
    with pytest.raises(queue.Empty):
        reader.next_message(timeout=0.2)


def discovery_topic(device_id: str) -> str:
    """The device-based discovery topic (the others in discovery_messages clear the old per-entity ones)."""
    return next(t for t, _ in discovery_messages(Topics("fer", device_id), "model") if "/device/" in t)


def test_device_writes_only_its_own_discovery_config(connect):
    reader, device = connect("fer-reader"), connect("pi-01")
    assert reader.wait_connected() and device.wait_connected()
    reader.subscribe("homeassistant/#")
    device.publish(discovery_topic("pi-02"), b"forged")
    device.publish(discovery_topic("pi-01"), b"own")
    assert reader.next_message().topic == discovery_topic("pi-01")


def test_reader_cannot_publish(connect):
    reader, watcher = connect("fer-reader"), connect("pi-02")
    assert reader.wait_connected() and watcher.wait_connected()
    watcher.subscribe("homeassistant/status")
    reader.publish("homeassistant/status", b"online")
    with pytest.raises(queue.Empty):
        watcher.next_message(timeout=0.5)


def test_client_without_certificate_is_refused(tls_broker):
    client = Client(tls_broker, "no-cert", "pi-01", ACCOUNTS["pi-01"], (str(tls_broker.certs / "ca.crt"), None, None))
    try:
        assert not client.wait_connected(timeout=2)
    finally:
        client.close()


def agent_publisher(broker: Broker, tmp_path: Path, device_id: str, cert: str, on_connect=None,
                    ca: Path | None = None, certs: Path | None = None) -> MqttPublisher:
    """The agent's publisher (MQTT 5, the default) for `device_id`, holding the certificate `cert` (of `certs`)."""
    certs, topics = certs or broker.certs, Topics("fer", device_id)
    tls = TlsConfig(ca_file=ca or broker.certs / "ca.crt", cert_file=certs / f"{cert}.crt", key_file=certs / f"{cert}.key")
    config = MqttConfig(host=broker.host, port=broker.port, username=device_id, reconnect_max_seconds=1, tls=tls)
    return MqttPublisher(config, Outbox(tmp_path / f"outbox-{device_id}.sqlite3"), f"fer-edge-{device_id}",
                         will=lambda: (topics.status, status_message(device_id, "m", "offline", 0)),
                         on_connect=on_connect or (lambda: []))


def test_agent_publisher_over_tls(tls_broker, connect, tmp_path):
    reader = connect("fer-reader")
    assert reader.wait_connected()
    reader.subscribe("#")
    topics = Topics("fer", "pi-01")
    publisher = agent_publisher(tls_broker, tmp_path, "pi-01", "pi-01", lambda: discovery_messages(topics, "m"))
    publisher.start()
    try:
        migrate, discovery, clear = (reader.next_message() for _ in range(3))
        assert discovery.topic == discovery_topic("pi-01") and migrate.topic == clear.topic and clear.payload == b""
        publisher.publish(topics.emotion, {"id": "e1", "label": "happy"})
        assert publisher.flush(5)
        assert reader.next_message().topic == topics.emotion
    finally:
        publisher.stop()


def test_publishes_the_acl_refuses_are_counted_as_refused_not_published(tls_broker, connect, tmp_path, caplog):
    reader = connect("fer-reader")
    assert reader.wait_connected()
    reader.subscribe("fer/#")
    publisher = agent_publisher(tls_broker, tmp_path, "kitchen", cert="pi-01")  # device_id is not the CN
    publisher.start()
    try:
        for n in range(3):
            publisher.publish("fer/kitchen/emotion", {"id": f"e{n}", "label": "happy"})
        assert publisher.flush(5)
        assert (publisher.refused, publisher.published, len(publisher.outbox)) == (3, 0, 0)
        assert "broker refused message e0 on fer/kitchen/emotion: Not authorized (135)" in caplog.text
        publisher.publish("fer/pi-01/emotion", {"id": "own", "label": "happy"})
        assert publisher.flush(5) and publisher.published == 1
        assert json.loads(reader.next_message().payload)["id"] == "own"
    finally:
        publisher.stop()


def test_a_result_over_the_brokers_size_limit_is_refused_and_the_next_one_delivered(tls_broker, connect, tmp_path):
    reader = connect("fer-reader")
    assert reader.wait_connected()
    reader.subscribe("fer/#")
    publisher = agent_publisher(tls_broker, tmp_path, "pi-01", "pi-01")
    publisher.start()
    try:
        assert wait_until(lambda: publisher.connected, 5)
        publisher.publish("fer/pi-01/emotion", {"id": "huge", "image": "x" * 70_000})
        publisher.publish("fer/pi-01/emotion", {"id": "next"})
        assert publisher.flush(5)
        assert (publisher.refused, publisher.published) == (1, 1)
        assert json.loads(reader.next_message().payload)["id"] == "next"
    finally:
        publisher.stop()


def first_connect_problem(publisher: MqttPublisher, caplog) -> str:
    """The warning the publisher logs when its first connection attempt fails."""
    with caplog.at_level(logging.WARNING, logger="edge.publisher"):
        publisher.start()
        try:
            assert wait_until(lambda: "retrying" in caplog.text, 5)
        finally:
            publisher.stop()
    return next(r.getMessage() for r in caplog.records if "retrying" in r.getMessage())


@pytest.mark.parametrize("broker_cert, complaint", [
    ({"cn": "127.0.0.1", "days": -1, "hosts": ("127.0.0.1",)}, "the broker's certificate was rejected (certificate has expired"),
    ({"cn": "mqtt.lan", "days": 30, "hosts": ("mqtt.lan",)}, "the broker's certificate was rejected (IP address mismatch, certificate is not valid for '127.0.0.1'"),
])
def test_a_rejected_broker_certificate_is_named(tmp_path, caplog, broker_cert, complaint):
    files = make_certs(tmp_path / "fer", "pi-01")
    sign(files, "broker", server=True, **broker_cert)
    broker = start_broker(tmp_path, files)
    try:
        assert complaint in first_connect_problem(agent_publisher(broker, tmp_path, "pi-01", "pi-01"), caplog)
    finally:
        broker.stop()


def test_a_broker_signed_by_an_unknown_ca_is_named(tls_broker, tmp_path, caplog):
    publisher = agent_publisher(tls_broker, tmp_path, "pi-01", "pi-01", ca=make_certs(tmp_path / "other") / "ca.crt")
    problem = first_connect_problem(publisher, caplog)
    assert "TLS: the broker's certificate was rejected (" in problem
    assert "other/ca.crt" in problem and "cannot reach" not in problem


def test_a_client_certificate_the_broker_rejects_is_named(tls_broker, tmp_path, caplog):
    other = make_certs(tmp_path / "other", "pi-01")
    publisher = agent_publisher(tls_broker, tmp_path, "pi-01", "pi-01", certs=other)
    problem = first_connect_problem(publisher, caplog)
    assert f"TLS: the broker rejected our client certificate {other / 'pi-01.crt'}" in problem
