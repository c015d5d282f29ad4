"""edge/homeassistant.py against Home Assistant's documented MQTT discovery.

The schemas below transcribe www.home-assistant.io/integrations/mqtt/ ("Device discovery payload": `dev` and
`o` at the root, `cmps` keyed by component id, each with its platform `p` and a `unique_id`; the shared options
availability, state_topic, command_topic, qos, encoding; `dev` needing identifiers or connections; `o` needing a
name; "Migration from single component to device-based discovery") and the "Configuration Variables" of
/integrations/sensor.mqtt/ and /integrations/event.mqtt/. Home Assistant ignores unknown keys; the schemas
refuse them, so a misspelt key fails here instead of silently doing nothing there. The templates are rendered
with Jinja2, as Home Assistant does, on messages built by edge/messages.py.
"""

from __future__ import annotations

import json
import re

import jinja2
import jsonschema
import pytest

from edge.classifier import Emotion
from edge.homeassistant import HEALTH_DIAGNOSTICS, discovery_messages
from edge.labels import EMOTIONS
from edge.messages import Topics, emotion_message, status_message

TEMPLATE = {"type": "string", "minLength": 1}
TOPIC = {"type": "string", "minLength": 1, "pattern": r"^[^#+]+$"}
ICON = {"type": "string", "pattern": r"^[a-z]+:[a-z0-9-]+$"}
AVAILABILITY = {  # the availability options, shared at the root or per component
    "availability": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["topic"], "additionalProperties": False,
        "properties": {"topic": TOPIC, "payload_available": {"type": "string"},
                       "payload_not_available": {"type": "string"}, "value_template": TEMPLATE}}},
    "availability_mode": {"enum": ["all", "any", "latest"]},
    "availability_template": TEMPLATE,
    "availability_topic": TOPIC,
    "payload_available": {"type": "string"},
    "payload_not_available": {"type": "string"},
}
NOT_BOTH_AVAILABILITIES = {"not": {"required": ["availability", "availability_topic"]}}
DEVICE = {  # abbreviated as the documentation's example payload abbreviates them
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "cu": {"type": "string"}, "cns": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2}},
        "hw": {"type": "string"}, "ids": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        "mf": {"type": "string"}, "mdl": {"type": "string"}, "mdl_id": {"type": "string"}, "name": {"type": "string"},
        "sn": {"type": "string"}, "sa": {"type": "string"}, "sw": {"type": "string"}, "via_device": {"type": "string"},
    },
    "anyOf": [{"required": ["ids"]}, {"required": ["cns"]}],
}
ORIGIN = {"type": "object", "required": ["name"], "additionalProperties": False,
          "properties": {"name": {"type": "string"}, "sw": {"type": "string"}, "url": {"type": "string"}}}
ENTITY = AVAILABILITY | {  # what every entity platform takes
    "enabled_by_default": {"type": "boolean"},
    "encoding": {"type": "string"},
    "entity_picture": {"type": "string"},
    "icon": ICON,
    "json_attributes_template": TEMPLATE,
    "json_attributes_topic": TOPIC,
    "name": {"type": ["string", "null"]},
    "default_entity_id": {"type": "string"},
    "qos": {"enum": [0, 1, 2]},
    "state_topic": TOPIC,
    "unique_id": {"type": "string", "minLength": 1},
    "value_template": TEMPLATE,
}
SENSOR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["p", "unique_id", "state_topic"],
    "properties": ENTITY | {
        "p": {"const": "sensor"},
        "device_class": {"type": ["string", "null"]},
        "entity_category": {"enum": ["diagnostic"]},
        "expire_after": {"type": "integer", "minimum": 0},
        "force_update": {"type": "boolean"},
        "last_reset_value_template": TEMPLATE,
        "options": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "state_class": {"enum": ["measurement", "measurement_angle", "total", "total_increasing"]},
        "suggested_display_precision": {"type": "integer", "minimum": 0},
        "unit_of_measurement": {"type": ["string", "null"]},
    },
    "allOf": [NOT_BOTH_AVAILABILITIES],
    "dependentSchemas": {"options": {"required": ["device_class"], "properties": {"device_class": {"const": "enum"}},
                                     "not": {"anyOf": [{"required": ["state_class"]}, {"required": ["unit_of_measurement"]}]}}},
}
EVENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["p", "unique_id", "state_topic", "event_types"],
    "properties": ENTITY | {
        "p": {"const": "event"},
        "device_class": {"enum": ["button", "doorbell", "motion"]},
        "event_types": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "allOf": [NOT_BOTH_AVAILABILITIES],
}
DEVICE_DISCOVERY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["dev", "o", "cmps"],
    "properties": AVAILABILITY | {
        "dev": DEVICE, "o": ORIGIN,
        "cmps": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": r"^[A-Za-z0-9_-]+$"},
                 "additionalProperties": {"oneOf": [SENSOR, EVENT]}},
        "state_topic": TOPIC, "command_topic": TOPIC, "qos": {"enum": [0, 1, 2]}, "encoding": {"type": "string"},
    },
    "allOf": [NOT_BOTH_AVAILABILITIES],
}
DEVICE_TOPIC = re.compile(r"^homeassistant/device/[A-Za-z0-9_-]+/config$")
SINGLE_COMPONENT_TOPIC = re.compile(r"^homeassistant/[a-z_]+/(?:[A-Za-z0-9_-]+/)?[A-Za-z0-9_-]+/config$")
TOPICS = Topics("fer", "pi-01")


def device_config(device_id: str = "pi-01", **kwargs) -> dict:
    return next(p for t, p in discovery_messages(Topics("fer", device_id), "m1", **kwargs) if "/device/" in t)


def component(key: str) -> dict:
    return device_config()["cmps"][key]


def render(template: str, payload: dict) -> str:
    """A Home Assistant template on an MQTT payload: `value` is the text, `value_json` the parsed JSON."""
    text = json.dumps(payload)
    return jinja2.Environment().from_string(template).render(value=text, value_json=json.loads(text)).strip()


def emotion(label: str = "sad") -> dict:
    probabilities = {name: 1 / 7 for name in EMOTIONS}
    return emotion_message("pi-01", "m1", "ev", 0.0, (1, 2, 3, 4), Emotion(label, 0.4, probabilities))


def validate(payload: dict, schema: dict = DEVICE_DISCOVERY) -> None:
    jsonschema.validate(payload, schema, cls=jsonschema.Draft202012Validator)


def test_one_device_payload_matches_the_documented_schema():
    topics = [t for t, p in discovery_messages(TOPICS, "m1") if p and "cmps" in p]
    assert len(topics) == 1 and DEVICE_TOPIC.match(topics[0])
    validate(device_config())


def test_the_schema_rejects_what_home_assistant_rejects_or_ignores():
    payload = device_config()
    sensor = payload["cmps"]["emotion"]
    broken = [
        {k: v for k, v in payload.items() if k != "o"},
        payload | {"dev": {"name": "no identifiers"}},
        payload | {"availability_topic": "fer/pi-01/status"},
        payload | {"cmps": {"emotion": {k: v for k, v in sensor.items() if k != "unique_id"}}},
        payload | {"cmps": {"emotion": {k: v for k, v in sensor.items() if k != "p"}}},
        payload | {"cmps": {"emotion": sensor | {"state_class": "measurement"}}},
        payload | {"cmps": {"emotion": sensor | {"expire_afer": 60}}},
        payload | {"cmps": {"face": {k: v for k, v in component("face").items() if k != "event_types"}}},
    ]
    for candidate in broken:
        with pytest.raises(jsonschema.ValidationError):
            validate(candidate)


def test_the_emotion_is_an_enum_sensor_with_the_probabilities_as_attributes():
    sensor, message = component("emotion"), emotion("sad")
    assert sensor["device_class"] == "enum" and sensor["options"] == list(EMOTIONS)
    assert sensor["state_topic"] == TOPICS.emotion and render(sensor["value_template"], message) == "sad"
    assert json.loads(render(sensor["json_attributes_template"], message)) == message["probabilities"]
    assert "expire_after" not in sensor  # 0, the default here: keeps the last face's emotion
    assert device_config(emotion_expire_seconds=300)["cmps"]["emotion"]["expire_after"] == 300


def test_each_face_fires_an_event_of_its_label():
    event = component("face")
    fired = json.loads(render(event["value_template"], emotion("happy")))
    assert event["state_topic"] == TOPICS.emotion and event["event_types"] == list(EMOTIONS)
    assert fired["event_type"] == "happy" and fired["confidence"] == 0.4 and fired["box"] == {"x": 1, "y": 2, "w": 3, "h": 4}


def test_availability_follows_the_status_topic_and_last_will():
    (availability,) = device_config()["availability"]
    assert availability["topic"] == TOPICS.status
    online, offline = (status_message("pi-01", "m1", state, 0.0) for state in ("online", "offline"))
    assert render(availability["value_template"], online) == availability["payload_available"]
    assert render(availability["value_template"], offline) == availability["payload_not_available"]


HEALTH = {"uptime_s": 1.0, "fps": 4.5, "queue_depth": 3, "frames": 9, "faces": 2, "events": 1, "published": 7,
          "dropped": 1, "camera_failures": 0, "errors": 2}


@pytest.mark.parametrize("key, field", [(key, field) for key, _, field, _, _ in HEALTH_DIAGNOSTICS])
def test_health_diagnostics_read_the_status_and_expire_with_it(key, field):
    sensor = device_config(health_expire_seconds=180)["cmps"][key]
    assert sensor["entity_category"] == "diagnostic" and sensor["state_topic"] == TOPICS.status
    online = status_message("pi-01", "m1", "online", 0.0, HEALTH)
    assert float(render(sensor["value_template"], online)) == HEALTH[field]
    assert render(sensor["value_template"], status_message("pi-01", "m1", "offline", 0.0)) == "None"  # unknown
    assert sensor["expire_after"] == 180


def test_the_model_is_a_diagnostic():
    sensor = component("model")
    assert sensor["entity_category"] == "diagnostic"
    assert render(sensor["value_template"], status_message("pi-01", "fer_v3", "online", 0.0)) == "fer_v3"


def test_the_models_sha256_and_a_rollback_are_diagnostics():
    sha, (sensor, rollback) = "ab" * 32, (component("model_sha256"), component("model_rollback"))
    assert sensor["entity_category"] == rollback["entity_category"] == "diagnostic"
    plain = status_message("pi-01", "m1", "online", 0.0, model_sha256=sha)
    assert render(sensor["value_template"], plain) == sha and render(rollback["value_template"], plain) == "none"
    went_back = {"from": {"model": "m2", "sha256": None}, "to": {"model": "m1", "sha256": sha},
                 "reason": "m2: not a loadable TFLite model", "at": "2026-01-01T10:00:00.000Z"}
    rolled = status_message("pi-01", "m1", "online", 0.0, model_sha256=sha, rollback=went_back)
    assert render(rollback["value_template"], rolled) == "m2: m2: not a loadable TFLite model"


def test_the_diagnostics_named_in_the_issue_are_all_there():
    assert {"fps", "queue_depth", "published", "dropped", "errors", "model"} <= set(device_config()["cmps"])


def test_devices_discovered_the_old_way_are_migrated_then_cleared():
    messages = discovery_messages(TOPICS, "m1")
    old = "homeassistant/sensor/fer_pi-01/emotion/config"
    assert SINGLE_COMPONENT_TOPIC.match(old)
    assert [t for t, _ in messages] == [old, "homeassistant/device/fer_pi-01/config", old]
    assert messages[0][1] == {"migrate_discovery": True} and messages[2][1] is None
    assert component("emotion")["unique_id"] == "fer_pi-01_emotion"  # the old entity's, so it carries over


def test_unique_ids_and_topics_differ_between_devices():
    first, second = device_config("pi-01"), device_config("pi-02")
    ids = lambda payload: {c["unique_id"] for c in payload["cmps"].values()}
    assert ids(first).isdisjoint(ids(second)) and len(ids(first)) == len(first["cmps"])
    assert first["dev"]["ids"] != second["dev"]["ids"]
