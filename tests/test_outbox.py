import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from edge.errors import ConfigError
from edge.cli import main
from edge.outbox import RESERVE_BYTES, Message, Outbox


def message(n: int, size: int = 0) -> Message:
    return Message(f"{n:032x}", "fer/t/emotion", b'{"n": %d}' % n + b" " * size)


def stored_ids(path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT id FROM outbox ORDER BY seq")]


def test_messages_come_back_in_order_after_reopening(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3")
    for n in range(5):
        outbox.put(message(n))
    outbox.close()
    reopened = Outbox(tmp_path / "o.sqlite3")
    assert [m.id for m in reopened.after(0, 10)] == [f"{n:032x}" for n in range(5)]
    assert len(reopened) == 5


def test_puts_within_commit_seconds_are_one_write_and_can_be_sent_before_it(tmp_path):
    now = [100.0]
    outbox = Outbox(tmp_path / "o.sqlite3", commit_seconds=1.0, clock=lambda: now[0])
    outbox.put(message(0))  # the first after a quiet spell: stored at once
    outbox.put(message(1))
    outbox.put(message(2))
    assert stored_ids(tmp_path / "o.sqlite3") == [message(0).id]
    assert [m.id[-1] for m in outbox.after(0, 10)] == ["0", "1", "2"] and len(outbox) == 3
    assert [m.seq for m in outbox.after(1, 10)] == [2, 3]
    assert outbox.due_in() == 1.0
    now[0] += 1.0
    outbox.commit_if_due()
    assert stored_ids(tmp_path / "o.sqlite3") == [message(n).id for n in range(3)]


def test_a_result_acknowledged_before_its_commit_is_never_written(tmp_path):
    now = [100.0]
    outbox = Outbox(tmp_path / "o.sqlite3", commit_seconds=1.0, clock=lambda: now[0])
    outbox.put(message(0))
    outbox.put(message(1), message(2))
    for sent in outbox.after(1, 10)[:1]:
        outbox.acknowledge(sent.seq)
    assert len(outbox) == 2
    now[0] += 1.0
    outbox.commit_if_due()
    assert stored_ids(tmp_path / "o.sqlite3") == [message(0).id, message(2).id]


def test_acknowledged_rows_stop_counting_at_once_and_are_deleted_together(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", commit_seconds=60)
    outbox.put(*(message(n) for n in range(4)))
    first, second = outbox.after(0, 2)
    outbox.acknowledge(first.seq)
    outbox.acknowledge(second.seq)
    assert len(outbox) == 2 and len(stored_ids(tmp_path / "o.sqlite3")) == 4
    outbox.commit()
    assert stored_ids(tmp_path / "o.sqlite3") == [message(2).id, message(3).id] and len(outbox) == 2


def test_full_outbox_drops_oldest_and_counts(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", max_messages=10)
    for n in range(13):
        outbox.put(message(n))
    outbox.commit()
    assert len(outbox) == 10 and outbox.dropped == 3
    assert outbox.after(0, 1)[0].id == f"{3:032x}" and len(stored_ids(tmp_path / "o.sqlite3")) == 10


def test_drop_newest_keeps_the_old(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", max_messages=10, when_full="drop-newest")
    assert all(outbox.put(message(n)) for n in range(10))
    assert not outbox.put(message(10))
    outbox.commit()
    assert outbox.dropped == 1 and outbox.after(0, 1)[0].id == f"{0:032x}"


@pytest.mark.parametrize("schema, found", [
    ("CREATE TABLE outbox (a INTEGER)", "an outbox table with columns a"),
    ("CREATE TABLE messages (id TEXT)", "tables messages"),
])
def test_another_programs_database_is_refused_untouched(tmp_path, schema, found):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute(schema)
    with pytest.raises(ConfigError, match=f"field 'outbox.path': {path} is not a fer-edge outbox \\(it holds {found}\\)"):
        Outbox(path)


def test_log_is_checkpointed_and_stays_small(tmp_path):
    outbox, sent = Outbox(tmp_path / "o.sqlite3", commit_seconds=0), 0
    for n in range(600):
        outbox.put(message(n, size=400))
        for row in outbox.after(sent, 10):
            outbox.acknowledge(row.seq)
            sent = row.seq
    assert os.path.getsize(tmp_path / "o.sqlite3-wal") <= 256 * 1024
    outbox.close()
    assert not (tmp_path / "o.sqlite3-wal").exists()


def fill(outbox: Outbox, start: int, limit: int = 100_000) -> int:
    """Put one 400-byte result at a time until one is not stored; the number of the first refused."""
    for n in range(start, start + limit):
        outbox.put(message(n, size=400))
        if outbox.not_stored:
            return n
    raise AssertionError("the disk never filled up")


def test_full_disk_is_said_once_counted_and_recovered_from(small_disk, caplog):
    disk = small_disk("1m")
    (disk / "other").write_bytes(b"x" * 400_000)  # what else fills the disk
    outbox = Outbox(disk / "o.sqlite3", commit_seconds=0)
    with caplog.at_level(logging.WARNING, logger="edge.outbox"):
        refused = fill(outbox, 0)
        for n in range(refused + 1, refused + 50):
            outbox.put(message(n, size=400))
        assert refused > 300  # the log does not take the disk: most of it holds results
        assert len(outbox) == len(stored_ids(disk / "o.sqlite3")) == refused and outbox.not_stored == 50
        assert len([r for r in caplog.records if "disk full" in r.getMessage()]) == 1
        for row in outbox.after(0, 100):  # the broker has some: deleting them works on the full disk
            outbox.acknowledge(row.seq)
        outbox.commit()
        assert len(outbox) == len(stored_ids(disk / "o.sqlite3")) == refused - 100
        (disk / "other").unlink()
        outbox.put(message(999_999))
        outbox.close()
    assert stored_ids(disk / "o.sqlite3")[-1] == message(999_999).id
    assert "50 results were not stored while the disk was full" in caplog.text and "rollback" not in caplog.text


WRITER = textwrap.dedent("""
    import sys
    from edge.outbox import Message, Outbox
    outbox = Outbox(sys.argv[1], commit_seconds=float(sys.argv[2]))
    n = int(sys.argv[3])
    while True:
        outbox.put(Message(f"{n:032x}", "fer/t/emotion", b"x" * 400))
        if outbox.due_in() is None:  # committed: now it counts as stored
            print(n, flush=True)
        n += 1
""")


def test_sigkill_at_any_moment_loses_nothing_stored(tmp_path):
    path = tmp_path / "o.sqlite3"
    reported: list[str] = []
    for kill in range(8):
        start = len(stored_ids(path)) if path.exists() else 0
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "0", str(start)],
                                  stdout=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": os.getcwd()})
        for _ in range(20 + 37 * kill):
            reported.append(f"{int(writer.stdout.readline()):032x}")
        time.sleep(0.001 * kill)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert set(reported) <= set(stored_ids(path))


def test_an_outbox_opened_on_a_nearly_full_disk_says_so_at_once(small_disk, caplog, capsys):
    disk = small_disk("1m")
    (disk / "other").write_bytes(b"x" * (1024 * 1024 - RESERVE_BYTES // 2))
    with caplog.at_level(logging.WARNING, logger="edge.outbox"):
        Outbox(disk / "o.sqlite3").close()
    assert [r.getMessage() for r in caplog.records if "under the 256 KiB it keeps in reserve" in r.getMessage()]
    assert main(["check-config", "--outbox-path", str(disk / "new" / "o.sqlite3")]) == 0
    assert f"fer-edge: warning: outbox {disk / 'new' / 'o.sqlite3'}: " in capsys.readouterr().err
    (disk / "other").unlink()
    assert main(["check-config", "--outbox-path", str(disk / "o.sqlite3")]) == 0
    assert "outbox" not in capsys.readouterr().err
