"""amqtt, a pure-Python MQTT 3.1.1 broker, on a loopback port in a thread of this process (pip install 'fer-edge[demo]').

The demo's broker where no Mosquitto is installed. It runs in a thread, so a terminal's Ctrl-C (delivered to
the main thread only) cannot stop it before the agent has flushed its results.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from importlib.metadata import version

from edge.demo.mosquitto import free_port
from edge.errors import FerEdgeError


def amqtt_available() -> bool:
    try:
        import amqtt.broker  # noqa: F401
    except ImportError:
        return False
    return True


class EmbeddedBroker:
    """start() serves anonymous clients on 127.0.0.1:`port` until stop(); the same interface as LocalMosquitto."""

    host = "127.0.0.1"
    protocol = "3.1.1"  # amqtt speaks MQTT 3.1.1 only

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.name = f"amqtt {version('amqtt')} (embedded, pure Python)"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> "EmbeddedBroker":
        from amqtt.broker import Broker

        # amqtt logs every client's connect and disconnect at INFO, and a client that drops its socket as an error
        logging.getLogger("amqtt").setLevel(logging.CRITICAL)
        self._loop = asyncio.new_event_loop()
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        started: dict = {}
        ready = threading.Event()

        async def serve() -> None:
            try:
                self._broker = Broker(config)
                await self._broker.start()
            except Exception as exc:  # noqa: BLE001  (reported to the caller below, whatever it is)
                started["error"] = exc
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            if "error" not in started:
                self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="amqtt-broker", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or "error" in started:
            raise FerEdgeError(f"amqtt did not start on {self.host}:{self.port}: {started.get('error', 'timed out')}")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(5)
        except Exception:  # noqa: BLE001  (stopping: a broker that fails to shut down is stopped with its loop)
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._thread = None
