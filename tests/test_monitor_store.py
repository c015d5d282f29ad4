"""edge/monitor/records.py and store.py: parsing fleet topics, JSONL and SQLite outputs, deduplication."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from edge.monitor.records import InvalidMessage, parse
from edge.monitor.store import JsonlLog, Seen, SqliteStore, StoreError, open_store, read_emotions
from edge.publisher import encode
from fleet_messages import face, status

AT = 1_767_261_600  # 2026-01-01T10:00:00Z


def emotion_record(message_id="a1" * 16, label="happy"):
    payload = face("pi-01", label, AT) | {"id": message_id}
    return parse("fer/pi-01/emotion", encode(payload), "fer", received_at=1.0)


def test_parse_takes_device_and_kind_from_the_topic():
    record = emotion_record()
    assert (record.device, record.kind, record.id, record.label) == ("pi-01", "emotion", "a1" * 16, "happy")


@pytest.mark.parametrize("topic", ["fer/pi-01/other", "other/pi-01/emotion", "fer/a/b/emotion"])
def test_parse_ignores_what_is_not_a_fleet_topic(topic):
    assert parse(topic, b"{}", "fer") is None


@pytest.mark.parametrize("payload, reason", [
    (b"not json", "not UTF-8 JSON"), (b"[1]", "is not of type 'object'"), (b"\xff", "not UTF-8 JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (encode(status("pi-01", "online", AT) | {"state": "maybe"}), "field 'state'"),
    (encode(status("pi-02", "online", AT)), "field 'device' is 'pi-02', but the topic names device 'pi-01'"),
    (encode(status("pi-01", "online", AT))[:-1] + b', "expire_after": ' + b"9" * 400 + b"}", "too large for any field"),
    (encode(status("pi-01", "online", AT))[:-1] + b', "expire_after": 1e400}', "holds the number 1e400, too large"),
    (encode(status("pi-01", "online", AT))[:-1] + b', "expire_after": NaN}', "holds NaN, which is not JSON"),
    (encode(status("pi-01", "online", AT))[:-1] + b', "model": "a\\ud800b"}', "no Unicode character"),
    (encode(status("pi-01", "online", AT) | {"id": "a1" * 16 + "\n"}), "field 'id': .* is too long"),
])
def test_parse_names_what_breaks_the_schema(payload, reason):
    with pytest.raises(InvalidMessage, match=reason):
        parse("fer/pi-01/status", payload, "fer")


def test_sqlite_store_keeps_one_row_per_id(tmp_path):
    store = SqliteStore(tmp_path / "m.db")
    store.add(emotion_record("a1" * 16))
    assert store.flush() == 1
    store.add(emotion_record("a1" * 16))
    store.add(emotion_record("a2" * 16, "sad"))
    assert store.flush() == 1
    store.close()
    assert read_emotions(tmp_path / "m.db") == [("pi-01", "2026-01-01T10:00:00.000Z", "happy"),
                                                 ("pi-01", "2026-01-01T10:00:00.000Z", "sad")]


def test_read_emotions_names_a_file_that_is_no_database(tmp_path):
    (tmp_path / "x.db").write_text("hello")
    with pytest.raises(StoreError, match="x.db"):
        read_emotions(tmp_path / "x.db")


def test_read_emotions_says_a_directory_is_not_a_database(tmp_path):
    with pytest.raises(StoreError, match=r": a directory, not a database; give the SQLite file"):
        read_emotions(tmp_path)


@pytest.mark.parametrize("name", ["fleet#1.db", "fleet%20x.db", "fleet?.db", "caf\udce9.db"])
def test_read_emotions_opens_a_database_whatever_its_name_holds(tmp_path, name):
    store = SqliteStore(tmp_path / name)
    store.add(emotion_record())
    store.close()
    assert read_emotions(tmp_path / name) == [("pi-01", "2026-01-01T10:00:00.000Z", "happy")]
    assert [path.name for path in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize("use", [open_store, read_emotions])
def test_a_url_of_another_database_is_named_not_taken_for_a_file(tmp_path, monkeypatch, use):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=r"^a mysql:// URL: not a database fer-monitor can use; give a postgresql://") as e:
        use("mysql://user:secret@host/db")
    assert "secret" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_jsonl_log_appends_one_line_per_message(tmp_path):
    log = JsonlLog(tmp_path / "m.jsonl")
    log.add(emotion_record("a1" * 16))
    log.add(emotion_record("a2" * 16))
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [line["payload"]["id"] for line in lines] == ["a1" * 16, "a2" * 16]


def test_a_database_of_another_program_is_refused_at_open(tmp_path):
    with sqlite3.connect(tmp_path / "other.db") as db:
        db.execute("CREATE TABLE messages (id, device, kind, timestamp, label)")
    with pytest.raises(StoreError, match=r"other.db: not a fer-monitor database \(its table messages has columns "
                                         r"id, device, kind, timestamp, label; expected id, device, kind, topic"):
        SqliteStore(tmp_path / "other.db")


def test_a_jsonl_log_cut_mid_line_goes_on_on_a_new_line(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"topic":"fer/pi-01/emo')
    log = JsonlLog(tmp_path / "m.jsonl")
    log.add(emotion_record("a1" * 16))
    log.close()
    assert json.loads((tmp_path / "m.jsonl").read_text().splitlines()[1])["payload"]["id"] == "a1" * 16


def test_a_full_disk_under_the_jsonl_log_is_named_and_the_store_still_gets_every_record(tmp_path, small_disk):
    import queue

    from edge.monitor.cli import drain
    from edge.monitor.fleet import Fleet

    disk = small_disk("64k")
    filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(OSError):  # fill it up: a tmpfs says ENOSPC on the write that does not fit
        while True:
            os.write(filler, b"\0" * 4096)
    os.close(filler)
    outputs = [JsonlLog(disk / "m.jsonl"), SqliteStore(tmp_path / "m.db")]
    records = queue.Queue()
    for n in range(50):
        records.put(emotion_record(f"{n:032x}"))
    with pytest.raises(StoreError, match=r"m.jsonl: cannot write \(No space left on device\)"):
        drain(records, Seen(), Fleet(), outputs, wait=0)
    outputs[1].close()
    assert len(read_emotions(tmp_path / "m.db")) == 50


def test_seen_forgets_the_oldest_beyond_its_size():
    seen = Seen(size=2)
    assert all(seen.add(i) for i in "abc")
    assert seen.add("a") and not seen.add("c")


def fleet_records(count: int) -> list:
    """`count` messages of two devices, every third one re-sent (same id) as after a reconnect."""
    records = []
    for n in range(count):
        payload = face(f"pi-{n % 2}", ["happy", "sad"][n % 2], AT + n) | {"id": f"{n:032x}"}
        records.append(parse(f"fer/pi-{n % 2}/emotion", encode(payload), "fer", received_at=float(n)))
        if n % 3 == 0:
            records.append(records[-1])
    return records


def store_all(store, records, batch: int) -> int:
    new = 0
    for start in range(0, len(records), batch):
        for record in records[start:start + batch]:
            store.add(record)
        new += store.flush()
    return new


def test_postgresql_and_sqlite_hold_the_same_rows_duplicates_dropped(tmp_path, postgres_url):
    records = fleet_records(50)
    sqlite, postgresql = open_store(tmp_path / "m.db"), open_store(postgres_url)
    assert store_all(sqlite, records, 7) == store_all(postgresql, records, 7) == 50
    assert store_all(postgresql, records[:10], 10) == 0  # a restart re-receiving old messages
    assert sqlite.rows() == postgresql.rows() and len(sqlite.rows()) == 50
    sqlite.close(), postgresql.close()
    assert read_emotions(tmp_path / "m.db") == read_emotions(postgres_url)


def test_an_unreachable_postgresql_is_named_without_its_password(postgres_server):
    url = f"postgresql://fer:secret@127.0.0.1:{postgres_server.port}/nosuchdb"
    with pytest.raises(StoreError, match="cannot connect") as error:
        open_store(url)
    assert "secret" not in str(error.value) and "nosuchdb" in str(error.value)


@pytest.mark.parametrize("url", ["postgresql://fer:secret@[::1/db", "postgresql://fer:sec%ZZret@127.0.0.1:1/db"])
def test_a_postgresql_url_that_does_not_parse_is_named_without_its_password(url):
    with pytest.raises(StoreError, match=r"^postgresql://\(unparsable URL\): cannot connect \(the URL does not parse") as e:
        open_store(url)
    assert "sec" not in str(e.value)
