"""fer-monitor through its front door: a real Mosquitto, messages built by the agent's own edge/messages.py."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest

from edge.messages import Topics, status_message
from edge.monitor.cli import main
from edge.monitor.store import SCHEMA
from edge.publisher import encode
from fleet_messages import HEALTH, event, face, status
from mosquitto import Broker, free_port
from mqtt_clients import Client


def publish_after_subscription(broker, client_id: str, messages: list[tuple[str, dict]]) -> threading.Thread:
    """Publish once the broker has logged the monitor's SUBSCRIBE (it handles packets one at a time)."""

    def run():
        deadline = time.monotonic() + 10
        while f"Received SUBSCRIBE from {client_id}" not in broker.log.read_text():
            assert time.monotonic() < deadline, "the monitor never subscribed"
            time.sleep(0.05)
        device = Client(broker, "test-device")
        device.wait_connected()
        for topic, payload in messages:
            device.publish(topic, payload if isinstance(payload, bytes) else encode(payload))
        device.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def watch(broker, tmp_path, *extra: str) -> int:
    return main(["watch", "--mqtt-port", str(broker.port), "--mqtt-host", broker.host, "--mqtt-client-id", "monitor-under-test",
                 "--sqlite", str(tmp_path / "m.db"), "--jsonl", str(tmp_path / "m.jsonl"), "--no-table", *extra])


def test_watch_stores_each_message_once(broker, tmp_path, capsys):
    topics = Topics("fer", "pi-01")
    happy = face("pi-01", "happy", 1_700_000_000)
    messages = [(topics.status, status_message("pi-01", "m", "online", 1_700_000_000)),
                (topics.emotion, happy), (topics.emotion, happy), (topics.emotion, face("pi-01", "sad", 1_700_000_001))]
    sender = publish_after_subscription(broker, "monitor-under-test", messages)
    assert watch(broker, tmp_path, "--duration", "3") == 0
    sender.join()
    with sqlite3.connect(tmp_path / "m.db") as db:
        rows = db.execute("SELECT kind, label FROM messages ORDER BY received_at").fetchall()
    assert rows == [("status", None), ("emotion", "happy"), ("emotion", "sad")]
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 3
    assert "1 duplicates dropped" in capsys.readouterr().err


def test_watch_with_table_prints_the_device(broker, tmp_path, capsys):
    sender = publish_after_subscription(broker, "monitor-under-test", [("fer/pi-07/emotion", face("pi-07", "fear", 1))])
    assert watch(broker, tmp_path, "--duration", "2", "--table") == 0
    sender.join()
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("pi-07"))
    assert "fear" in row


DEEP = "[" * 50_000 + "]" * 50_000
# what killed the monitor's receiving thread before messages were checked against edge/schema/
BAD = {
    "label is a list": ("emotion", lambda m: m | {"label": ["happy"]}),
    "label is an object": ("emotion", lambda m: m | {"label": {"happy": 1}}),
    "label is a number": ("emotion", lambda m: m | {"label": 3}),
    "confidence is a string": ("emotion", lambda m: m | {"confidence": "0.9"}),
    "health is a list": ("status", lambda m: m | {"health": [1, 2]}),
    "fps is a string": ("status", lambda m: m | {"health": HEALTH | {"fps": "fast"}}),
    "dominant is a list": ("event", lambda m: m | {"dominant": ["happy"]}),
    "deeply nested": ("emotion", lambda m: encode(m)[:-1] + b',"extra":' + DEEP.encode() + b"}"),
    "not JSON": ("event", lambda m: b"\xff{"),
}
VALID = {"emotion": lambda d: face(d, "happy", 1_700_000_000), "status": lambda d: status(d, "online", 1, HEALTH),
         "event": lambda d: event(d, "sad", 1_700_000_000)}


def bad_payload(device: str, case: str) -> tuple[str, bytes]:
    kind, spoil = BAD[case]
    payload = spoil(VALID[kind](device))
    return f"fer/{device}/{kind}", payload if isinstance(payload, bytes) else encode(payload)


def test_invalid_messages_are_counted_logged_once_per_topic_and_never_stop_the_monitor(broker, tmp_path, capsys,
                                                                                      caplog):
    retained = Client(broker, "old-device")
    assert retained.wait_connected()
    for n, case in enumerate(BAD):  # retained: every later start of a monitor receives them first
        retained.paho.publish(*bad_payload(f"old-{n}", case), qos=1, retain=True).wait_for_publish(5)
    retained.close()
    live = [bad_payload(f"pi-{n}", case) for n, case in enumerate(BAD)] + [bad_payload("pi-0", "label is a number")]
    good = [("fer/pi-ok/emotion", face("pi-ok", "happy", 1_700_000_000)), ("fer/pi-ok/event", VALID["event"]("pi-ok"))]
    sender = publish_after_subscription(broker, "monitor-under-test", live + good)
    assert watch(broker, tmp_path, "--duration", "3") == 0
    sender.join()
    with sqlite3.connect(tmp_path / "m.db") as db:
        assert db.execute("SELECT device, kind FROM messages").fetchall() == [("pi-ok", "emotion"), ("pi-ok", "event")]
    assert f"{2 * len(BAD) + 1} invalid rejected" in capsys.readouterr().err
    warnings = [r.getMessage() for r in caplog.records if "invalid message rejected" in r.getMessage()]
    assert len(warnings) == 2 * len(BAD) and sum(w.startswith("fer/pi-0/emotion:") for w in warnings) == 1
    assert "field 'label'" in warnings[0] and not any(r.exc_info for r in caplog.records)


def test_report_plots_a_png(tmp_path, capsys):
    db = sqlite3.connect(tmp_path / "m.db")
    db.executescript(SCHEMA)
    for i, label in enumerate(["happy", "sad", "happy", "neutral"]):
        payload = face("pi-01", label, 1_700_000_000 + 60 * i)
        db.execute("INSERT INTO messages VALUES (?, 'pi-01', 'emotion', 't', ?, 0, ?, ?)",
                   (payload["id"], payload["timestamp"], label, json.dumps(payload)))
    db.commit()
    assert main(["report", str(tmp_path / "m.db"), "-o", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a title is text: matplotlib would read "$...$" as TeX (and fail on "$\\frac$")
    assert main(["report", str(tmp_path / "m.db"), "-o", str(tmp_path / "t.png"), "--title", "Shop $\\frac$ $5-$10"]) == 0
    capsys.readouterr()
    when = ["0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z",  # a clock gone wrong
            "2016-12-31T23:59:60.500Z"]  # a leap second: RFC 3339 has them, Python's datetime does not
    for n, time in enumerate(when):
        db.execute("INSERT INTO messages VALUES (?, 'pi-01', 'emotion', 't', ?, 0, 'sad', '{}')", (f"{n:032x}", time))
    db.commit()
    assert main(["report", str(tmp_path / "m.db"), "-o", str(tmp_path / "c.png")]) == 0
    assert capsys.readouterr().err == (f"fer-monitor: wrote {tmp_path / 'c.png'} (5 faces; 2 rows left out: their "
                                       "timestamp is not a time in 1970-8999)\n")


def test_a_leap_second_is_the_second_after_23_59_59():
    from edge.monitor.report import parse_time

    assert parse_time("2016-12-31T23:59:60.250Z").isoformat() == "2017-01-01T00:00:00.250000+00:00"
    assert parse_time("2016-12-31T23:59:59Z").isoformat() == "2016-12-31T23:59:59+00:00"
    with pytest.raises(ValueError):
        parse_time("2016-12-31T23:59:61Z")


@pytest.mark.parametrize("output, complaint", [
    ("out", "out: the report is a PNG; name a file ending in .png"),
    ("x.xyz", "x.xyz: the report is a PNG; name a file ending in .png"),
    (".", ". is a folder; name the PNG file to write"),
])
def test_report_refuses_an_output_that_is_no_png_file(tmp_path, monkeypatch, capsys, output, complaint):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["report", "m.db", "-o", output])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and f"argument -o/--output: {complaint}" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["watch", "--mqtt-port", "70000"], "--mqtt-port: field 'mqtt.port': Input should be less than or equal to 65535"),
    (["watch", "--mqtt-topic-prefix", "a/#"], "--mqtt-topic-prefix: field 'mqtt.topic_prefix'"),
    (["watch", "--mqtt-tls-ca-file", "/no/such/ca.crt"], "--mqtt-tls-ca-file /no/such/ca.crt: no such file"),
    (["watch", "--mqtt-password-file", "/no/such/file", "--mqtt-username", "u"], "/no/such/file"),
    (["report", "/no/such.db", "-o", "x.png"], "/no/such.db"),
])
def test_bad_input_is_one_error_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fer-monitor: error: ") and message in err and "\n" not in err


def test_refused_connection_is_an_error(tmp_path, capsys):
    port = free_port()
    locked = Broker(tmp_path, port=port, extra_config=f"listener {port} 127.0.0.1\nallow_anonymous false\n").start()
    try:
        argv = ["watch", "--mqtt-port", str(locked.port), "--mqtt-host", locked.host, "--duration", "5", "--no-table"]
        assert main(argv) == 1
    finally:
        locked.stop()
    err = capsys.readouterr().err
    assert f"fer-monitor: error: cannot connect to 127.0.0.1:{port}: the broker refused the connection: " in err
    assert "check --mqtt-username" in err


def watch_nothing(*flags: str) -> int:
    return main(["watch", *flags, "--duration", "1.5", "--no-table"])


def test_nothing_listening_is_named_once_and_exits_1(capsys):
    port = free_port()
    assert watch_nothing("--mqtt-host", "127.0.0.1", "--mqtt-port", str(port)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"fer-monitor: error: never connected to 127.0.0.1:{port}: connection refused (is the broker " \
        "running, and on this port?)"
    assert len(err) == 2 and "retrying" in err[0] and "Client is not connected" not in "".join(err)


def test_an_unknown_host_is_a_dns_error(capsys):
    assert watch_nothing("--mqtt-host", "no-such-host.invalid") == 1
    assert "never connected to no-such-host.invalid:1883: cannot resolve the host name" in capsys.readouterr().err


def test_tls_to_a_plain_port_is_a_tls_error_at_once(broker, capsys):
    started = time.monotonic()
    assert main(["watch", "--mqtt-host", broker.host, "--mqtt-port", str(broker.port), "--mqtt-tls-enabled", "true",
                 "--duration", "10", "--no-table"]) == 1
    assert time.monotonic() - started < 5  # no retrying what cannot work
    err = capsys.readouterr().err
    assert f"cannot connect to 127.0.0.1:{broker.port}: TLS handshake failed" in err
    assert err.count("TLS handshake failed") == 1, err  # said once, not as a warning and again as the error


def test_watch_flags_are_the_agents_mqtt_flags():
    from edge.cli import build_parser as agent_parser
    from edge.monitor.cli import build_parser

    def flags(parser, verb):
        sub = next(a for a in parser._actions if a.dest == "verb").choices[verb]
        return {o for a in sub._actions for o in a.option_strings if o.startswith("--mqtt-")}

    agent, monitor = flags(agent_parser(), "run"), flags(build_parser(), "watch")
    assert "--mqtt-topic-prefix" in monitor and monitor <= agent
    assert agent - monitor == set()  # every agent broker flag (the password is never a flag)


def test_watch_into_postgresql_and_report_from_it(broker, tmp_path, postgres_url):
    psycopg = pytest.importorskip("psycopg")
    topics = Topics("fer", "pi-01")
    happy = face("pi-01", "happy", 1_700_000_000)
    messages = [(topics.emotion, happy), (topics.emotion, happy), (topics.emotion, face("pi-01", "sad", 1_700_000_060))]
    sender = publish_after_subscription(broker, "monitor-under-test", messages)
    assert watch(broker, tmp_path, "--duration", "3", "--store", postgres_url) == 0
    sender.join()
    with psycopg.connect(postgres_url) as db:
        rows = db.execute("SELECT id, kind, label FROM messages ORDER BY label").fetchall()
    with sqlite3.connect(tmp_path / "m.db") as db:
        assert rows == db.execute("SELECT id, kind, label FROM messages ORDER BY label").fetchall()
    assert [label for _, _, label in rows] == ["happy", "sad"]
    assert main(["report", postgres_url, "-o", str(tmp_path / "pg.png")]) == 0
    assert (tmp_path / "pg.png").stat().st_size > 10_000


def test_a_duration_that_has_already_passed_is_refused(capsys):
    assert main(["watch", "--duration", "-5", "--mqtt-port", "1"]) == 1
    assert capsys.readouterr().err == "fer-monitor: error: --duration: must be above 0 (got -5.0)\n"


def test_a_url_given_to_sqlite_is_refused_without_repeating_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["watch", "--sqlite", "postgresql://fleet:s3cret@db.example/fer", "--duration", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and "argument --sqlite: takes an SQLite file path; give a database URL to --store" in err[-1]
    assert "s3cret" not in "".join(err) and list(tmp_path.iterdir()) == []
