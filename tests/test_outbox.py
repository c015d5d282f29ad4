import sqlite3

import pytest

from edge.errors import ConfigError
from edge.outbox import Message, Outbox


def message(n: int) -> Message:
    return Message(f"{n:032x}", "fer/t/emotion", b'{"n": %d}' % n)


def test_messages_come_back_in_order_after_reopening(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3")
    for n in range(5):
        outbox.put(message(n))
    outbox.close()
    reopened = Outbox(tmp_path / "o.sqlite3")
    assert [m.id for m in reopened.after(0, 10)] == [f"{n:032x}" for n in range(5)]
    assert len(reopened) == 5


def test_remove_and_after_skip_what_was_sent(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3")
    for n in range(4):
        outbox.put(message(n))
    first, second = outbox.after(0, 2)
    outbox.remove(first.seq)
    assert len(outbox) == 3
    assert [m.payload for m in outbox.after(second.seq, 10)] == [b'{"n": 2}', b'{"n": 3}']


def test_full_outbox_drops_oldest_and_counts(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", max_messages=10)
    for n in range(13):
        outbox.put(message(n))
    assert len(outbox) == 10 and outbox.dropped == 3
    assert outbox.after(0, 1)[0].id == f"{3:032x}"


def test_drop_newest_keeps_the_old(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", max_messages=10, when_full="drop-newest")
    assert all(outbox.put(message(n)) for n in range(10))
    assert not outbox.put(message(10))
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
