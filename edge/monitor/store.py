"""Where the monitor keeps messages: a JSONL log, and a table deduplicated by message id in SQLite or PostgreSQL.

Stores take records with `add` and write them with `flush`, one transaction per batch (the monitor flushes
after each drain of its queue); `close` flushes what is left.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections import OrderedDict
from pathlib import Path

from edge.errors import FerEdgeError
from edge.monitor.records import Record

def table_schema(real: str = "REAL") -> str:
    """The `messages` table and its index; `real` is the database's name for a double (PostgreSQL's differs)."""
    return f"""
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    device TEXT NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    received_at {real} NOT NULL,
    label TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_device_time ON messages (device, kind, timestamp);
"""


SCHEMA = table_schema()


class StoreError(FerEdgeError, OSError):
    """A JSONL file or a database the monitor cannot open or write; the text names the file or server."""


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
            if self._file.tell() and not self._ends_a_line():  # a line cut short by a kill or a full disk
                self._file.write("\n")
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open for appending ({exc.strerror})") from None

    def _ends_a_line(self) -> bool:
        with open(self.path, "rb") as existing:
            existing.seek(-1, os.SEEK_END)
            return existing.read(1) == b"\n"

    def add(self, record: Record) -> None:
        line = {"topic": record.topic, "device": record.device, "kind": record.kind,
                "received_at": record.received_at, "payload": record.payload}
        self._guarded(self._file.write, json.dumps(line, separators=(",", ":")) + "\n")

    def flush(self) -> int:
        self._guarded(self._file.flush)
        return 0

    def close(self) -> None:
        if not self._file.closed:
            self._guarded(self._file.close)

    def _guarded(self, write, *args) -> None:
        try:
            write(*args)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot write ({exc.strerror})") from None


COLUMNS = ("id", "device", "kind", "topic", "timestamp", "received_at", "label", "payload")
EMOTIONS_QUERY = ("SELECT device, timestamp, label FROM messages WHERE kind = 'emotion' AND label IS NOT NULL "
                  "ORDER BY timestamp")


def row(record: Record) -> tuple:
    """A record as the values of COLUMNS."""
    return (record.id, record.device, record.kind, record.topic, record.timestamp, record.received_at,
            record.label, json.dumps(record.payload, separators=(",", ":")))


class BatchedStore:
    """Collects rows from `add`; a subclass writes them in one transaction in `_write` (returns rows new)."""

    max_batch = 1000

    def __init__(self):
        self._pending: list[tuple] = []
        self.stored = 0

    def add(self, record: Record) -> None:
        self._pending.append(row(record))
        if len(self._pending) >= self.max_batch:
            self.flush()

    def flush(self) -> int:
        """Write the pending rows; how many were new (a repeated id is not stored twice)."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, []
        new = self._write(batch)
        self.stored += new
        return new

    def _write(self, rows: list[tuple]) -> int:
        raise NotImplementedError


class SqliteStore(BatchedStore):
    """Table `messages`, one row per message id (INSERT OR IGNORE): a duplicate is not stored twice."""

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.executescript(SCHEMA)
            columns = tuple(column[1] for column in self._db.execute("PRAGMA table_info(messages)"))
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open as an SQLite database ({exc})") from None
        if columns != COLUMNS:  # another program's table of that name: found now, not at the first message
            self._db.close()
            raise StoreError(f"{self.path}: not a fer-monitor database (its table messages has columns "
                             f"{', '.join(columns)}; expected {', '.join(COLUMNS)})")

    def _write(self, rows: list[tuple]) -> int:
        before = self._db.total_changes
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot store {len(rows)} messages ({exc})") from None
        return self._db.total_changes - before

    def rows(self) -> list[tuple]:
        """Every stored row (COLUMNS), by id."""
        return self._db.execute("SELECT * FROM messages ORDER BY id").fetchall()

    def close(self) -> None:
        self.flush()
        self._db.close()


URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_postgresql(spec: str | Path) -> bool:
    return str(spec).startswith(("postgresql://", "postgres://"))


def sqlite_path(spec: str | Path) -> Path:
    """The SQLite file a spec that is no postgresql:// URL names; StoreError for a URL of any other database."""
    scheme = URL_SCHEME.match(str(spec))
    if scheme:  # the URL itself is not repeated: it may hold a password
        raise StoreError(f"a {scheme.group()} URL: not a database fer-monitor can use; give a postgresql:// URL "
                         "or an SQLite file path")
    return Path(spec)


def open_store(spec: str | Path) -> BatchedStore:
    """A PostgreSQL store for a postgresql:// URL, else an SQLite file."""
    if is_postgresql(spec):
        from edge.monitor.postgres import PostgresStore

        return PostgresStore(str(spec))
    return SqliteStore(sqlite_path(spec))


def read_emotions(path: str | Path) -> list[tuple[str, str, str]]:
    """(device, timestamp, label) of every stored face, oldest first; StoreError if it is no monitor database.

    `path` is an SQLite file or a postgresql:// URL.
    """
    if is_postgresql(path):
        from edge.monitor.postgres import read_emotions as read_postgres

        return read_postgres(str(path))
    path = sqlite_path(path)
    if path.is_dir():
        raise StoreError(f"{path}: a directory, not a database; give the SQLite file fer-monitor record wrote")
    if not path.is_file():
        raise StoreError(f"{path}: no such database")
    try:
        with sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True) as db:
            return db.execute(EMOTIONS_QUERY).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: not a fer-monitor database ({exc})") from None
