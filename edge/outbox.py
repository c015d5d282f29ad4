"""A durable, ordered outbox in SQLite (WAL): results wait here until the broker has acknowledged them."""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from edge.errors import ConfigError

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL
)
"""


COLUMNS = ("seq", "id", "topic", "payload", "qos", "retain")


def check_schema(db: sqlite3.Connection, path: Path) -> None:
    """ConfigError unless the file is fer-edge's outbox (or was empty): never write into another program's database."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    foreign = sorted(tables - {"outbox", "sqlite_sequence"})
    columns = tuple(row[1] for row in db.execute("PRAGMA table_info(outbox)"))
    if foreign or columns != COLUMNS:
        found = f"tables {', '.join(foreign)}" if foreign else f"an outbox table with columns {', '.join(columns)}"
        raise ConfigError(f"field 'outbox.path': {path} is not a fer-edge outbox (it holds {found}); give another path")


@dataclass(frozen=True)
class Message:
    """One MQTT message; `id` is the payload's id, `seq` its place in the outbox (0 before it is stored)."""

    id: str
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    seq: int = 0


class Outbox:
    """Rows in arrival order; `put` applies the size cap, `remove` is called once the broker has a message."""

    def __init__(self, path: str | Path, max_messages: int = 100_000, when_full: str = "drop-oldest"):
        self.path = Path(path)
        self.max_messages = max_messages
        self.when_full = when_full
        self.dropped = 0
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed row survives a power cut as well as a killed process.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(SCHEMA)
            check_schema(self._db, self.path)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"field 'outbox.path': cannot open {self.path} ({exc})") from None
        self._count = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        if self._count:
            logger.info("outbox %s holds %d unsent messages from before", self.path, self._count)

    def __len__(self) -> int:
        return self._count

    def put(self, *messages: Message) -> int:
        """Store messages in one transaction (one disk sync); returns how many the size cap let in."""
        stored = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for message in messages:
                    stored += self._insert(message)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._count = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
                raise
        return stored

    def after(self, seq: int, limit: int) -> list[Message]:
        """Up to `limit` messages stored after `seq`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain, seq FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
            ).fetchall()
        return [Message(i, t, bytes(p), q, bool(r), s) for i, t, p, q, r, s in rows]

    def remove(self, seq: int) -> None:
        with self._lock:
            self._count -= self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _insert(self, message: Message) -> bool:
        if self._count >= self.max_messages:
            if self.when_full == "drop-newest":
                self._count_drop(message.topic)
                return False
            self._drop_oldest()
        self._db.execute(
            "INSERT INTO outbox (id, topic, payload, qos, retain) VALUES (?, ?, ?, ?, ?)",
            (message.id, message.topic, message.payload, message.qos, int(message.retain)),
        )
        self._count += 1
        return True

    def _drop_oldest(self) -> None:
        row = self._db.execute("SELECT seq, topic FROM outbox ORDER BY seq LIMIT 1").fetchone()
        self._db.execute("DELETE FROM outbox WHERE seq = ?", (row[0],))
        self._count -= 1
        self._count_drop(row[1])

    def _count_drop(self, topic: str) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            logger.warning(
                "outbox full (%d messages): %s, %d dropped so far (latest on %s)",
                self.max_messages, self.when_full, self.dropped, topic,
            )
