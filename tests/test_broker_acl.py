"""deploy/mosquitto/: the fleet's TLS listener, password file and ACL, on a real Mosquitto."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
from pathlib import Path

import pytest

from edge.config import MqttConfig, TlsConfig
from edge.homeassistant import discovery_messages
from edge.messages import Topics, status_message
from edge.outbox import Outbox
from edge.publisher import MqttPublisher
from mosquitto import Broker, free_port
from mqtt_clients import Client

MOSQUITTO_DIR = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto"
ACCOUNTS = {"pi-01": "pw-one", "pi-02": "pw-two", "fer-reader": "pw-reader"}

pytestmark = [
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed"),
    pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd is not installed"),
]


def write_password_file(path: Path) -> None:
    path.touch()
    for user, password in ACCOUNTS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, password], check=True)


def broker_config(files: Path, port: int) -> str:
    """The shipped config with its file paths in files/ and its listener on a loopback port.

    Run as root, mosquitto drops to user `mosquitto`, which cannot read pytest's private tmp_path: stay root.
    """
    text = (MOSQUITTO_DIR / "fer-edge.conf").read_text()
    assert "listener 8883\n" in text
    stay = "user root\n" if os.geteuid() == 0 else ""
    return stay + text.replace("/etc/mosquitto/fer/", f"{files}/").replace("listener 8883\n", f"listener {port} 127.0.0.1\n")


@pytest.fixture
def tls_broker(tmp_path):
    files = tmp_path / "fer"
    subprocess.run([MOSQUITTO_DIR / "make-certs.sh", "--out", files, *ACCOUNTS], check=True, capture_output=True)
    write_password_file(files / "passwd")
    shutil.copy(MOSQUITTO_DIR / "acl", files / "acl")
    port = free_port()
    instance = Broker(tmp_path, port=port, extra_config=broker_config(files, port)).start()
    instance.certs = files
    yield instance
    instance.stop()


@pytest.fixture
def connect(tls_broker):
    clients = []

    def open_client(user: str, password: str | None = None) -> Client:
        certs = tls_broker.certs
        client = Client(tls_broker, f"{user}-client", user, password or ACCOUNTS[user],
                        (str(certs / "ca.crt"), str(certs / f"{user}.crt"), str(certs / f"{user}.key")))
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


def test_device_publishes_and_reader_receives(connect):
    reader, device = connect("fer-reader"), connect("pi-01")
    assert reader.wait_connected() and device.wait_connected()
    reader.subscribe("fer/#")
    device.publish("fer/pi-01/emotion", b'{"id": "a"}')
    message = reader.next_message()
    assert (message.topic, message.payload) == ("fer/pi-01/emotion", b'{"id": "a"}')


def test_wrong_password_is_refused(connect):
    device = connect("pi-01", password="not-the-password")
    assert not device.wait_connected()
    assert device.refused is not None


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
    return discovery_messages(Topics("fer", device_id), "model")[0][0]


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


def test_agent_publisher_over_tls_with_password(tls_broker, connect, tmp_path):
    reader = connect("fer-reader")
    assert reader.wait_connected()
    reader.subscribe("#")
    certs, topics = tls_broker.certs, Topics("fer", "pi-01")
    config = MqttConfig(host=tls_broker.host, port=tls_broker.port, username="pi-01", password=ACCOUNTS["pi-01"],
                        tls=TlsConfig(ca_file=certs / "ca.crt", cert_file=certs / "pi-01.crt", key_file=certs / "pi-01.key"))
    publisher = MqttPublisher(config, Outbox(tmp_path / "outbox.sqlite3"), "fer-edge-pi-01",
                              will=(topics.status, status_message("pi-01", "m", "offline", 0)),
                              on_connect=lambda: discovery_messages(topics, "m"))
    publisher.start()
    try:
        assert reader.next_message().topic == discovery_topic("pi-01")
        publisher.publish(topics.emotion, {"id": "e1", "label": "happy"})
        assert publisher.flush(5)
        assert reader.next_message().topic == topics.emotion
    finally:
        publisher.stop()
