"""A durable, ordered outbox in SQLite (WAL): results wait here until the broker has acknowledged them.

An SD card wears with every sync, so writes are grouped: the results put within `commit_seconds` and the
deletions of those the broker has acknowledged go to disk together, in one transaction with one sync (the
first result after a quiet spell at once). A result can be sent as soon as it is put, before its commit: one the
broker acknowledges before the commit is never written at all, which is what spares the card while connected,
and the results wait for no disk. A SIGKILL loses nothing stored (what it can lose, results of the last
`commit_seconds` not yet acknowledged, it could lose with any grouping); an acknowledged row whose deletion was
not yet committed is sent again after a restart, with its id.
A full disk is not an error of the caller: the results it refuses are counted (`not_stored`), it is said once
per episode, and storing resumes when there is room again.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from edge.errors import ConfigError

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL
)
"""
# a new file gets small pages: a commit writes whole pages, and a result is ~0.5 KiB
PAGE_SIZE = 512
# the log is copied into the database after this many pages and truncated to this size: it stays small
# next to what the file holds, also on a tiny disk
WAL_PAGES = 256
WAL_BYTES = WAL_PAGES * PAGE_SIZE
GROUP_LIMIT = 256
# results are refused while less than this is free: SQLite can then still delete what the broker has
# acknowledged and checkpoint its log, and so make room (deleting needs room to write, too)
RESERVE_BYTES = 2 * WAL_BYTES


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
    """One MQTT message; `id` is the payload's id, `seq` its place in the outbox (0 before it is put)."""

    id: str
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    seq: int = 0


def is_disk_full(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    return code == sqlite3.SQLITE_FULL if code is not None else "disk is full" in str(exc)


def low_disk_warning(path: Path) -> str | None:
    """What to do when the outbox's disk has less free than the reserve it keeps (results would not be stored)."""
    folder = next((p for p in (path.parent, *path.parent.parents) if p.exists()), None)
    try:
        free = shutil.disk_usage(folder).free if folder is not None else RESERVE_BYTES
    except OSError:
        return None
    if free >= RESERVE_BYTES:
        return None
    return (f"outbox {path}: {free // 1024} KiB free on its disk, under the {RESERVE_BYTES // 1024} KiB it keeps in "
            "reserve: results are counted as not stored (health: not_stored) until there is room; free some space "
            "or set outbox.path on another disk")


class Outbox:
    """Rows in arrival order: `put` queues them for the next commit, `acknowledge` marks one delivered."""

    def __init__(
        self,
        path: str | Path,
        max_messages: int = 100_000,
        when_full: str = "drop-oldest",
        commit_seconds: float = 1.0,
        clock=time.monotonic,
    ):
        self.path = Path(path)
        self.max_messages = max_messages
        self.when_full = when_full
        self.commit_seconds = commit_seconds
        self.dropped = 0
        self.not_stored = 0
        self._clock = clock
        self._lock = threading.RLock()
        self._pending: list[Message] = []  # put, not yet committed
        self._acknowledged: list[int] = []  # delivered, deletion not yet committed
        self._evict = 0  # oldest rows drop-oldest gives up at the next commit
        self._last_commit = float("-inf")
        self.commits = 0
        self._disk_full_since: int | None = None  # not_stored when the disk filled up
        self._db = self._open()
        self._stored, last = self._db.execute("SELECT COUNT(*), MAX(seq) FROM outbox").fetchone()
        self._next_seq = last or 0  # seq is given here, not by AUTOINCREMENT, which costs a page per commit
        if self._stored:
            logger.info("outbox %s holds %d unsent messages from before", self.path, self._stored)
        if (warning := low_disk_warning(self.path)) is not None:
            logger.warning("%s", warning)

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # only a new, empty file takes it
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed row survives a power cut as well as a killed process.
            db.execute("PRAGMA synchronous=FULL")
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
            db.execute(f"PRAGMA journal_size_limit={WAL_BYTES}")
            db.execute(SCHEMA)
            check_schema(db, self.path)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"field 'outbox.path': cannot open {self.path} ({exc})") from None
        return db

    def __len__(self) -> int:
        """Results waiting for the broker: stored or about to be, not yet acknowledged."""
        with self._lock:
            return max(0, self._stored + len(self._pending) - len(self._acknowledged) - self._evict)

    def put(self, *messages: Message) -> int:
        """Queue messages for the next commit (now, if the last was `commit_seconds` ago); how many the cap let in."""
        with self._lock:
            taken = sum(self._take(message) for message in messages)
            self.commit_if_due()
        return taken

    def acknowledge(self, seq: int) -> None:
        """The broker has message `seq`: it no longer counts; a stored row goes at the next commit, one not yet
        committed is never written."""
        with self._lock:
            waiting = len(self._pending)
            self._pending = [m for m in self._pending if m.seq != seq]
            if len(self._pending) == waiting:
                self._acknowledged.append(seq)

    def due_in(self) -> float | None:
        """Seconds until the next write is due; None when there is nothing to write."""
        with self._lock:
            if not (self._pending or self._acknowledged or self._evict):
                return None
            if len(self._pending) + len(self._acknowledged) >= GROUP_LIMIT:
                return 0.0
            return max(0.0, self._last_commit + self.commit_seconds - self._clock())

    def commit_if_due(self) -> None:
        with self._lock:
            if self.due_in() == 0.0:
                self._write()

    def commit(self) -> None:
        """Write the queued results and delete the acknowledged rows now, in one transaction; never raises."""
        with self._lock:
            self._write()

    def _write(self) -> None:
        self._last_commit = self._clock()
        if self._pending and not self._room():
            self._refuse(None)
        inserts = self._pending
        if not (inserts or self._acknowledged or self._evict):
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._delete_acknowledged()  # before the oldest others are evicted
            self._evict_oldest()
            for message in inserts:
                self._db.execute(
                    "INSERT INTO outbox (seq, id, topic, payload, qos, retain) VALUES (?, ?, ?, ?, ?, ?)",
                    (message.seq, message.id, message.topic, message.payload, message.qos, int(message.retain)),
                )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._failed(exc, bool(inserts))
            return
        self.commits += 1
        self._acknowledged.clear()
        if inserts:
            self._stored += len(inserts)
            self._pending = []
            if self._disk_full_since is not None:
                lost = self.not_stored - self._disk_full_since
                logger.warning("outbox %s: storing again; %d results were not stored while the disk was full",
                               self.path, lost)
                self._disk_full_since = None

    def after(self, seq: int, limit: int) -> list[Message]:
        """Up to `limit` messages after `seq`, oldest first: the stored ones, then those not yet committed."""
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT id, topic, payload, qos, retain, seq FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                    (seq, limit),
                ).fetchall()
            except sqlite3.Error as exc:
                logger.error("outbox %s: cannot read (%s)", self.path, exc)
                rows = []
            stored = [Message(i, t, bytes(p), q, bool(r), s) for i, t, p, q, r, s in rows]
            waiting = [m for m in self._pending if m.seq > seq]  # seqs above every stored row
        return (stored + waiting)[:limit]

    def close(self) -> None:
        """Commit what is queued, shrink the log into the database, close the file."""
        with self._lock:
            self.commit()
            if self._disk_full_since is not None:
                logger.error("outbox %s: the disk is still full; %d results were not stored", self.path,
                             self.not_stored - self._disk_full_since)
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                logger.warning("outbox %s: cannot checkpoint at close (%s)", self.path, exc)
            self._db.close()

    def _take(self, message: Message) -> bool:
        self._next_seq += 1
        message = replace(message, seq=self._next_seq)
        if len(self) < self.max_messages:
            self._pending.append(message)
            return True
        if self.when_full == "drop-newest":
            self._count_drop(message.topic)
            return False
        if self._stored - len(self._acknowledged) - self._evict > 0:
            self._evict += 1
        else:
            self._count_drop(self._pending.pop(0).topic)
        self._pending.append(message)
        return True

    def _delete_acknowledged(self) -> None:
        if self._acknowledged:
            cursor = self._db.executemany("DELETE FROM outbox WHERE seq = ?", ((s,) for s in self._acknowledged))
            self._stored -= cursor.rowcount

    def _evict_oldest(self) -> None:
        if not self._evict:
            return
        rows = self._db.execute("SELECT seq, topic FROM outbox ORDER BY seq LIMIT ?", (self._evict,)).fetchall()
        if rows:
            self._stored -= self._db.execute("DELETE FROM outbox WHERE seq <= ?", (rows[-1][0],)).rowcount
        self._evict = 0
        for _, topic in rows:
            self._count_drop(topic)

    def _failed(self, exc: sqlite3.Error, with_results: bool) -> None:
        """A failed commit: SQLite may have rolled back itself; the queued results are given up and counted,
        the deletions tried again at the next commit."""
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._stored = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        except sqlite3.Error as again:
            logger.error("outbox %s: cannot recount after a failed write (%s)", self.path, again)
        self._evict = 0
        if with_results:
            self._refuse(None if is_disk_full(exc) else exc)
        elif self._disk_full_since is None:
            logger.warning("outbox %s: cannot delete %d acknowledged rows yet (%s); trying again",
                           self.path, len(self._acknowledged), exc)

    def _room(self) -> bool:
        try:
            return shutil.disk_usage(self.path.parent).free >= RESERVE_BYTES
        except OSError:
            return True  # let SQLite say what is wrong

    def _refuse(self, exc: sqlite3.Error | None) -> None:
        """Give up the queued results, counted in not_stored; a full disk is said once until it has room again."""
        refused, self._pending = len(self._pending), []
        self.not_stored += refused
        if exc is not None:
            logger.error("outbox %s: cannot store (%s): %d results not stored (%d so far)",
                         self.path, exc, refused, self.not_stored)
        elif self._disk_full_since is None:
            self._disk_full_since = self.not_stored - refused
            logger.error("outbox %s: disk full: %d results not stored; results are counted as not stored "
                         "(health: not_stored) until there is room again", self.path, refused)

    def _count_drop(self, topic: str) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            logger.warning(
                "outbox full (%d messages): %s, %d dropped so far (latest on %s)",
                self.max_messages, self.when_full, self.dropped, topic,
            )
