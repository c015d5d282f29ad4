"""edge/homeassistant.py against Home Assistant's documented MQTT sensor configuration.

The schema below transcribes the "Configuration Variables" of www.home-assistant.io/integrations/sensor.mqtt/
and the discovery rules of www.home-assistant.io/integrations/mqtt/ (topic layout, `device` needing
`unique_id` and one of `identifiers`/`connections`, `availability` excluding `availability_topic`).
The templates are rendered with Jinja2, as Home Assistant does, on messages built by edge/messages.py.
"""

from __future__ import annotations

import json
import re

import jinja2
import jsonschema
import pytest

from edge.classifier import Emotion
from edge.homeassistant import discovery_messages
from edge.labels import EMOTIONS
from edge.messages import Topics, emotion_message, status_message

TEMPLATE = {"type": "string", "minLength": 1}
TOPIC = {"type": "string", "minLength": 1, "pattern": r"^[^#+]+$"}
DEVICE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "configuration_url": {"type": "string"},
        "connections": {"type": "array", "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}},
        "hw_version": {"type": "string"},
        "identifiers": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        "manufacturer": {"type": "string"},
        "model": {"type": "string"},
        "model_id": {"type": "string"},
        "name": {"type": "string"},
        "serial_number": {"type": "string"},
        "suggested_area": {"type": "string"},
        "sw_version": {"type": "string"},
        "via_device": {"type": "string"},
    },
    "anyOf": [{"required": ["identifiers"]}, {"required": ["connections"]}],
}
MQTT_SENSOR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["state_topic"],
    "properties": {
        "availability": {"type": "array", "items": {
            "type": "object", "required": ["topic"], "additionalProperties": False,
            "properties": {"topic": TOPIC, "payload_available": {"type": "string"},
                           "payload_not_available": {"type": "string"}, "value_template": TEMPLATE}}},
        "availability_mode": {"enum": ["all", "any", "latest"]},
        "availability_template": TEMPLATE,
        "availability_topic": TOPIC,
        "default_entity_id": {"type": "string"},
        "device": DEVICE,
        "device_class": {"type": ["string", "null"]},
        "enabled_by_default": {"type": "boolean"},
        "encoding": {"type": "string"},
        "entity_category": {"enum": ["diagnostic"]},
        "entity_picture": {"type": "string"},
        "expire_after": {"type": "integer", "minimum": 0},
        "force_update": {"type": "boolean"},
        "icon": {"type": "string", "pattern": r"^[a-z]+:[a-z0-9-]+$"},
        "json_attributes_template": TEMPLATE,
        "json_attributes_topic": TOPIC,
        "last_reset_value_template": TEMPLATE,
        "name": {"type": ["string", "null"]},
        "object_id": {"type": "string"},
        "options": {"type": "array", "items": {"type": "string"}},
        "origin": {"type": "object", "required": ["name"],
                   "properties": {"name": {"type": "string"}, "sw_version": {"type": "string"}, "support_url": {"type": "string"}}},
        "payload_available": {"type": "string"},
        "payload_not_available": {"type": "string"},
        "platform": {"const": "sensor"},
        "qos": {"enum": [0, 1, 2]},
        "state_class": {"enum": ["measurement", "measurement_angle", "total", "total_increasing"]},
        "state_topic": TOPIC,
        "suggested_display_precision": {"type": "integer", "minimum": 0},
        "unique_id": {"type": "string", "minLength": 1},
        "unit_of_measurement": {"type": ["string", "null"]},
        "value_template": TEMPLATE,
    },
    "not": {"required": ["availability", "availability_topic"]},
    "dependentRequired": {"device": ["unique_id"]},
    "dependentSchemas": {"options": {"required": ["device_class"], "properties": {"device_class": {"const": "enum"}},
                                     "not": {"anyOf": [{"required": ["state_class"]}, {"required": ["unit_of_measurement"]}]}}},
}
DISCOVERY_TOPIC = re.compile(r"^homeassistant/sensor/(?:[A-Za-z0-9_-]+/)?[A-Za-z0-9_-]+/config$")


def sensors(device_id: str = "pi-01") -> list[tuple[str, dict]]:
    return [(topic, payload) for topic, payload in discovery_messages(Topics("fer", device_id), "m1")
            if topic.startswith("homeassistant/sensor/")]


def render(template: str, payload: dict) -> str:
    """A Home Assistant template on an MQTT payload: `value` is the text, `value_json` the parsed JSON."""
    text = json.dumps(payload)
    return jinja2.Environment().from_string(template).render(value=text, value_json=json.loads(text)).strip()


def test_discovery_announces_at_least_one_sensor():
    assert sensors()


@pytest.mark.parametrize("topic, payload", sensors())
def test_payload_matches_the_documented_sensor_schema(topic, payload):
    jsonschema.validate(payload, MQTT_SENSOR, cls=jsonschema.Draft202012Validator)
    assert DISCOVERY_TOPIC.match(topic), topic


@pytest.mark.parametrize("topic, payload", sensors())
def test_availability_follows_the_status_topic_and_last_will(topic, payload):
    assert payload["availability_topic"] == Topics("fer", "pi-01").status
    template = payload.get("availability_template", "{{ value }}")
    online, offline = (status_message("pi-01", "m1", state, 0.0) for state in ("online", "offline"))
    assert render(template, online) == payload.get("payload_available", "online")
    assert render(template, offline) == payload.get("payload_not_available", "offline")


@pytest.mark.parametrize("topic, payload", sensors())
def test_templates_read_an_emotion_message(topic, payload):
    probabilities = {name: 1 / 7 for name in EMOTIONS}
    message = emotion_message("pi-01", "m1", "ev", 0.0, (1, 2, 3, 4), Emotion("sad", 0.4, probabilities))
    assert payload["state_topic"] == Topics("fer", "pi-01").emotion
    assert render(payload["value_template"], message) == "sad"
    if "json_attributes_template" in payload:
        assert isinstance(json.loads(render(payload["json_attributes_template"], message)), dict)
    if payload.get("device_class") == "enum":
        assert set(payload["options"]) >= set(EMOTIONS)


def test_unique_ids_and_topics_differ_between_devices():
    first, second = sensors("pi-01"), sensors("pi-02")
    assert {t for t, _ in first}.isdisjoint(t for t, _ in second)
    assert {p["unique_id"] for _, p in first}.isdisjoint(p["unique_id"] for _, p in second)
    assert {json.dumps(p["device"]["identifiers"]) for _, p in first}.isdisjoint(
        json.dumps(p["device"]["identifiers"]) for _, p in second)


def test_schema_rejects_what_home_assistant_rejects():
    _, payload = sensors()[0]
    broken = [{k: v for k, v in payload.items() if k != "state_topic"},
              payload | {"availability": [{"topic": "x"}]},
              payload | {"not_a_documented_key": 1},
              {k: v for k, v in payload.items() if k != "unique_id"}]
    for candidate in broken:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(candidate, MQTT_SENSOR, cls=jsonschema.Draft202012Validator)
