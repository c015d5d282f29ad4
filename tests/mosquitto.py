"""The tests' real broker is the demo's: Debian's mosquitto on a loopback port."""

from edge.demo.mosquitto import LocalMosquitto as Broker
from edge.demo.mosquitto import free_port

__all__ = ["Broker", "free_port"]
