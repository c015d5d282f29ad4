"""edge/monitor/records.py and store.py: parsing fleet topics, JSONL and SQLite outputs, deduplication."""

from __future__ import annotations

import json

import pytest

from edge.monitor.records import InvalidMessage, parse
from edge.monitor.store import JsonlLog, Seen, SqliteStore, StoreError, read_emotions
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
])
def test_parse_names_what_breaks_the_schema(payload, reason):
    with pytest.raises(InvalidMessage, match=reason):
        parse("fer/pi-01/status", payload, "fer")


def test_sqlite_store_keeps_one_row_per_id(tmp_path):
    store = SqliteStore(tmp_path / "m.db")
    assert store.add(emotion_record("a1" * 16)) and not store.add(emotion_record("a1" * 16))
    assert store.add(emotion_record("a2" * 16, "sad"))
    store.close()
    assert read_emotions(tmp_path / "m.db") == [("pi-01", "2026-01-01T10:00:00.000Z", "happy"),
                                                 ("pi-01", "2026-01-01T10:00:00.000Z", "sad")]


def test_read_emotions_names_a_file_that_is_no_database(tmp_path):
    (tmp_path / "x.db").write_text("hello")
    with pytest.raises(StoreError, match="x.db"):
        read_emotions(tmp_path / "x.db")


def test_jsonl_log_appends_one_line_per_message(tmp_path):
    log = JsonlLog(tmp_path / "m.jsonl")
    log.add(emotion_record("a1" * 16))
    log.add(emotion_record("a2" * 16))
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [line["payload"]["id"] for line in lines] == ["a1" * 16, "a2" * 16]


def test_seen_forgets_the_oldest_beyond_its_size():
    seen = Seen(size=2)
    assert all(seen.add(i) for i in "abc")
    assert seen.add("a") and not seen.add("c")
