"""deploy/ansible/: the playbook parses, and its edge.toml template yields a config the agent accepts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge.config import load_config

ANSIBLE = Path(__file__).resolve().parents[1] / "deploy" / "ansible"
BIN = Path(sys.executable).parent


def ansible_tool(name: str) -> str:
    tool = shutil.which(name, path=f"{BIN}:{os.environ.get('PATH', '')}")
    if tool is None:
        pytest.skip(f"{name} is not installed (pip extra `dev` has ansible-core)")
    return tool


def test_playbook_passes_syntax_check():
    result = subprocess.run([ansible_tool("ansible-playbook"), "-i", "inventory.example.yml", "--syntax-check", "site.yml"],
                            cwd=ANSIBLE, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_playbook_rolls_out_in_batches_and_stops_on_any_failure():
    play = yaml.safe_load((ANSIBLE / "site.yml").read_text())[0]
    assert play["max_fail_percentage"] == 0 and play["serial"][0] == 1


RENDER = """
- hosts: pi-kitchen
  connection: local
  gather_facts: false
  vars:
    fer_edge_mqtt_password: unused
  roles: [{role: fer_edge, tags: never}]
  tasks:
    - ansible.builtin.template:
        src: "{{ playbook_dir }}/roles/fer_edge/templates/edge.toml.j2"
        dest: "{{ out }}"
"""


def test_template_renders_a_config_the_agent_accepts(tmp_path):
    playbook = ANSIBLE / f".render-{tmp_path.name}.yml"  # beside site.yml, so group_vars and roles resolve
    playbook.write_text(RENDER)
    try:
        result = subprocess.run(
            [ansible_tool("ansible-playbook"), "-i", "inventory.example.yml", playbook.name,
             "-e", f"out={tmp_path / 'edge.toml'}"], cwd=ANSIBLE, capture_output=True, text=True,
        )
    finally:
        playbook.unlink()
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_config(tmp_path / "edge.toml", environ={"FER_EDGE_MQTT_PASSWORD": "set"})  # no file read
    assert (config.device_id, config.trigger.kind, config.trigger.pir.pin) == ("pi-kitchen", "pir", "GPIO17")
    assert (config.mqtt.username, config.mqtt.port, config.mqtt.tls.ca_file) == ("pi-kitchen", 8883, Path("/etc/fer-edge/ca.crt"))
