"""edge/monitor/records.py and store.py: parsing fleet topics, JSONL and SQLite outputs, deduplication."""

from __future__ import annotations

import json

import pytest

from edge.monitor.records import parse
from edge.monitor.store import JsonlLog, Seen, SqliteStore, StoreError, read_emotions


def emotion_record(message_id="a1", label="happy"):
    payload = json.dumps({"id": message_id, "timestamp": "2026-01-01T10:00:00.000Z", "label": label})
    return parse("fer/pi-01/emotion", payload.encode(), "fer", received_at=1.0)


def test_parse_takes_device_and_kind_from_the_topic():
    record = emotion_record()
    assert (record.device, record.kind, record.id, record.label) == ("pi-01", "emotion", "a1", "happy")


@pytest.mark.parametrize("topic, payload", [
    ("fer/pi-01/other", b"{}"), ("other/pi-01/emotion", b"{}"), ("fer/a/b/emotion", b"{}"),
    ("fer/pi-01/emotion", b"not json"), ("fer/pi-01/emotion", b"[1]"),
])
def test_parse_ignores_what_is_not_a_fleet_message(topic, payload):
    assert parse(topic, payload, "fer") is None


def test_parse_gives_a_stable_id_to_messages_without_one():
    first, second = (parse("fer/pi-01/status", b'{"state": "online"}', "fer") for _ in range(2))
    assert first.id == second.id


def test_sqlite_store_keeps_one_row_per_id(tmp_path):
    store = SqliteStore(tmp_path / "m.db")
    assert store.add(emotion_record("a1")) and not store.add(emotion_record("a1"))
    assert store.add(emotion_record("a2", "sad"))
    store.close()
    assert read_emotions(tmp_path / "m.db") == [("pi-01", "2026-01-01T10:00:00.000Z", "happy"),
                                                 ("pi-01", "2026-01-01T10:00:00.000Z", "sad")]


def test_read_emotions_names_a_file_that_is_no_database(tmp_path):
    (tmp_path / "x.db").write_text("hello")
    with pytest.raises(StoreError, match="x.db"):
        read_emotions(tmp_path / "x.db")


def test_jsonl_log_appends_one_line_per_message(tmp_path):
    log = JsonlLog(tmp_path / "m.jsonl")
    log.add(emotion_record("a1"))
    log.add(emotion_record("a2"))
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [line["payload"]["id"] for line in lines] == ["a1", "a2"]


def test_seen_forgets_the_oldest_beyond_its_size():
    seen = Seen(size=2)
    assert all(seen.add(i) for i in "abc")
    assert seen.add("a") and not seen.add("c")
