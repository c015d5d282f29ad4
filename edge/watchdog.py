"""systemd notifications (READY, WATCHDOG, STOPPING) through sdnotify; nothing at all outside systemd."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


class Watchdog:
    """ready() once started, ping() every loop iteration, stopping() on the way out."""

    def __init__(self):
        self._notifier = None
        if os.environ.get("NOTIFY_SOCKET"):
            try:
                import sdnotify
            except ImportError:
                logger.warning("NOTIFY_SOCKET is set but sdnotify is not installed; systemd gets no notifications")
                return
            self._notifier = sdnotify.SystemdNotifier()

    def ready(self) -> None:
        self._notify("READY=1")

    def ping(self) -> None:
        self._notify("WATCHDOG=1")

    def stopping(self) -> None:
        self._notify("STOPPING=1")

    def _notify(self, state: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(state)
