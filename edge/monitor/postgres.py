"""The monitor's `messages` table in PostgreSQL (psycopg 3), for a fleet whose results outgrow one SQLite file.

Same columns and the same deduplication by message id as the SQLite store (`ON CONFLICT (id) DO NOTHING`);
each batch is one transaction sent in psycopg's pipeline mode.
"""

from __future__ import annotations

from edge.monitor.store import COLUMNS, EMOTIONS_QUERY, BatchedStore, StoreError, table_schema

SCHEMA = table_schema("DOUBLE PRECISION")
INSERT = (f"INSERT INTO messages ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
          "ON CONFLICT (id) DO NOTHING")


def psycopg():
    try:
        import psycopg
    except ImportError:
        raise StoreError("a postgresql:// store needs psycopg: pip install 'fer-edge[monitor]'") from None
    return psycopg


def conninfo(url: str) -> dict | None:
    """The URL's parts as libpq reads them; None when it does not parse."""
    try:
        return psycopg().conninfo.conninfo_to_dict(url)
    except psycopg().ProgrammingError:
        return None


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    info = conninfo(url)
    if info is None:
        return "postgresql://(unparsable URL)"
    return f"postgresql://{info.get('user', '')}@{info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def connect(url: str):
    driver = psycopg()
    try:
        return driver.connect(url, connect_timeout=10)
    except driver.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if conninfo(url) is None:  # libpq's parse errors quote the URL, password and all
            first = "the URL does not parse: postgresql://user:password@host:port/dbname, with % escapes as %XX"
        raise StoreError(f"{describe(url)}: cannot connect ({first})") from None


class PostgresStore(BatchedStore):
    """Table `messages` in a PostgreSQL database, one row per message id."""

    def __init__(self, url: str):
        super().__init__()
        self.url = url
        self._db = connect(url)
        try:
            with self._db.transaction():
                self._db.execute(SCHEMA)
        except psycopg().Error as exc:
            raise StoreError(f"{describe(url)}: cannot create the messages table ({exc})") from None

    def _write(self, rows: list[tuple]) -> int:
        try:
            with self._db.transaction(), self._db.cursor() as cursor:
                cursor.executemany(INSERT, rows)
                return max(cursor.rowcount, 0)
        except psycopg().Error as exc:
            raise StoreError(f"{describe(self.url)}: cannot store {len(rows)} messages ({exc})") from None

    def rows(self) -> list[tuple]:
        """Every stored row (COLUMNS), by id."""
        return self._db.execute("SELECT * FROM messages ORDER BY id").fetchall()

    def close(self) -> None:
        self.flush()
        self._db.close()


def read_emotions(url: str) -> list[tuple[str, str, str]]:
    """(device, timestamp, label) of every stored face, oldest first."""
    with connect(url) as db:
        try:
            return [tuple(r) for r in db.execute(EMOTIONS_QUERY).fetchall()]
        except psycopg().Error as exc:
            raise StoreError(f"{describe(url)}: not a fer-monitor database ({exc})") from None
