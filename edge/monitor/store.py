"""Where the monitor keeps messages: a JSONL log and an SQLite table deduplicated by message id."""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from pathlib import Path

from edge.errors import FerEdgeError
from edge.monitor.records import Record

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    device TEXT NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    received_at REAL NOT NULL,
    label TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_device_time ON messages (device, kind, timestamp);
"""


class StoreError(FerEdgeError, OSError):
    """A JSONL or SQLite file the monitor cannot open or write; the text names the file."""


class Seen:
    """The last `size` message ids, to drop the duplicates a QoS 1 reconnect produces."""

    def __init__(self, size: int = 100_000):
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, message_id: str) -> bool:
        """True the first time an id is seen."""
        if message_id in self._ids:
            return False
        self._ids[message_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


class JsonlLog:
    """Appends one JSON line per message: topic, device, kind, receive time and the payload."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._file = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open for appending ({exc.strerror})") from None

    def add(self, record: Record) -> None:
        line = {"topic": record.topic, "device": record.device, "kind": record.kind,
                "received_at": record.received_at, "payload": record.payload}
        self._file.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class SqliteStore:
    """Table `messages`, one row per message id (INSERT OR IGNORE): a duplicate is not stored twice."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open as an SQLite database ({exc})") from None

    def add(self, record: Record) -> bool:
        """True when the message was new and is now stored."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (record.id, record.device, record.kind, record.topic, record.timestamp, record.received_at,
             record.label, json.dumps(record.payload, separators=(",", ":"))),
        )
        return cursor.rowcount == 1

    def close(self) -> None:
        self._db.close()


def read_emotions(path: str | Path) -> list[tuple[str, str, str]]:
    """(device, timestamp, label) of every stored face, oldest first; StoreError if it is no monitor database."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path}: no such database")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute(
                "SELECT device, timestamp, label FROM messages WHERE kind = 'emotion' AND label IS NOT NULL "
                "ORDER BY timestamp"
            ).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: not a fer-monitor database ({exc})") from None
