"""edge/monitor/fleet.py: what the live table shows per device."""

from __future__ import annotations

import json

from edge.monitor.fleet import Fleet, render
from edge.monitor.records import parse
from fleet_messages import HEALTH, event, face, status


def feed(fleet: Fleet, topic: str, payload: dict, at: float = 100.0) -> None:
    fleet.add(parse(topic, json.dumps(payload).encode(), "fer", at))


def test_fleet_folds_status_faces_and_events():
    fleet = Fleet()
    feed(fleet, "fer/pi-01/status", status("pi-01", "online", 100, HEALTH))
    feed(fleet, "fer/pi-01/emotion", face("pi-01", "happy", 100, 0.8))
    feed(fleet, "fer/pi-01/emotion", face("pi-01", "sad", 100, 0.6))
    feed(fleet, "fer/pi-01/event", event("pi-01", "happy", 100))
    device = fleet.devices["pi-01"]
    assert (device.state, device.fps, device.queue, device.faces, device.events) == ("online", 4.5, 3, 2, 1)
    assert (device.last_label, dict(device.counts)) == ("sad", {"happy": 1, "sad": 1})


def test_render_without_color_is_plain_text():
    fleet = Fleet()
    feed(fleet, "fer/pi-01/status", status("pi-01", "offline", 90), at=90.0)
    text = render(fleet, now=100.0, color=False)
    assert "\x1b" not in text
    assert text.splitlines()[1].split()[:2] == ["pi-01", "offline"]
    assert "10s" in text.splitlines()[1]


def test_long_device_names_stay_apart_and_the_columns_in_line():
    fleet = Fleet()
    names = ["camera-building-A-1", "camera-building-A-2", "loading-dock-camera-north-entrance-42-left-side-01"]
    for name in names:
        feed(fleet, f"fer/{name}/status", status(name, "online", 90), at=90.0)
    rows = render(fleet, now=100.0, color=False).splitlines()[1:4]
    assert [row.split()[0] for row in rows] == ["camera-building-A-1", "camera-building-A-2",
                                                "loading-dock-camera-north-entranc…ide-01"]
    assert len({row.index("online") for row in rows}) == 1


def test_online_device_turns_stale_after_three_missed_health_reports():
    fleet = Fleet()
    feed(fleet, "fer/pi-01/status", status("pi-01", "online", 100, HEALTH, expire_after=3 * 60), at=100.0)
    assert render(fleet, now=279.0, color=False).splitlines()[1].split()[1] == "online"
    assert render(fleet, now=281.0, color=False).splitlines()[1].split()[1:4] == ["stale", "-", "-"]


def test_retained_status_sent_long_ago_is_stale_at_once():
    fleet = Fleet()
    feed(fleet, "fer/pi-01/status", status("pi-01", "online", 100, HEALTH, expire_after=180), at=10_000.0)
    assert fleet.devices["pi-01"].shown_state(now=10_001.0) == "stale"


def test_an_offline_device_keeps_no_stale_figures():
    fleet = Fleet()
    feed(fleet, "fer/pi-01/status", status("pi-01", "online", 100, HEALTH))
    feed(fleet, "fer/pi-01/status", status("pi-01", "offline", 110), at=110.0)
    device = fleet.devices["pi-01"]
    assert (device.state, device.fps, device.queue) == ("offline", None, None)
    row = render(fleet, now=110.0, color=False).splitlines()[1].split()
    assert row[:4] == ["pi-01", "offline", "-", "-"]


def test_every_emotion_column_has_its_whole_name():
    header = render(Fleet(), color=False).splitlines()[0].split()
    assert header[-7:] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def test_the_table_shows_each_devices_model_and_sha256_and_a_rollback():
    fleet = Fleet()
    sha = "ab12cd34" + "0" * 56
    feed(fleet, "fer/pi-01/status", status("pi-01", "online", 100, HEALTH) | {"model_sha256": sha})
    feed(fleet, "fer/pi-02/status", status("pi-02", "online", 100, HEALTH) | {"model_sha256": sha, "rollback": {
        "from": {"model": "new", "sha256": None}, "to": {"model": "m", "sha256": sha}, "reason": "x", "at": "2026-01-01T10:00:00.000Z"}})
    rows = render(fleet, now=100.0, color=False).splitlines()
    assert rows[0].split()[9] == "model"
    assert rows[1].split()[8] == "m@ab12cd34" and rows[2].split()[8] == "m@ab12cd34!rollback"
