"""deploy/ansible/: the playbook parses, and its edge.toml template yields a config the agent accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from edge.config import load_config
from tools import installed_tool

ANSIBLE = Path(__file__).resolve().parents[1] / "deploy" / "ansible"


def ansible_tool(name: str) -> str:
    return installed_tool(name, "pip extra `dev` has ansible-core")


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


def render_config(tmp_path, *extra: str):
    playbook = ANSIBLE / f".render-{tmp_path.name}.yml"  # beside site.yml, so group_vars and roles resolve
    playbook.write_text(RENDER)
    try:
        result = subprocess.run(
            [ansible_tool("ansible-playbook"), "-i", "inventory.example.yml", playbook.name,
             "-e", f"out={tmp_path / 'edge.toml'}", *extra], cwd=ANSIBLE, capture_output=True, text=True,
        )
    finally:
        playbook.unlink()
    assert result.returncode == 0, result.stdout + result.stderr
    return load_config(tmp_path / "edge.toml", environ={"FER_EDGE_MQTT_PASSWORD": "set"})  # no file read


def test_template_renders_a_config_the_agent_accepts(tmp_path):
    config = render_config(tmp_path)
    assert (config.device_id, config.trigger.kind, config.trigger.pir.pin) == ("pi-kitchen", "pir", "GPIO17")
    assert (config.mqtt.username, config.mqtt.port, config.mqtt.tls.ca_file) == ("pi-kitchen", 8883, Path("/etc/fer-edge/ca.crt"))
    assert config.classifier.model == Path("/usr/share/fer-edge/models/fer2013_cnn_bilstm_int8.tflite")


def test_with_a_bundle_the_agent_runs_the_store_and_trusts_the_given_keys(tmp_path):
    config = render_config(tmp_path, "-e", '{"fer_edge_bundle": "/build/new.bundle", '
                           '"fer_edge_trusted_keys": ["/keys/release.key.pub"]}')
    assert config.classifier.model is None and config.model_store.path == Path("/var/lib/fer-edge/models")
    assert config.model_store.trusted_keys == [Path("/etc/fer-edge/keys/release.key.pub")]


def test_a_bundle_goes_through_model_install_and_a_rollback_stops_the_rollout():
    tasks = yaml.safe_load((ANSIBLE / "roles" / "fer_edge" / "tasks" / "main.yml").read_text())
    commands = [str(task.get("ansible.builtin.command", "")) for task in tasks]
    position = lambda text: next(i for i, command in enumerate(commands) if text in command)
    config = next(i for i, task in enumerate(tasks) if "ansible.builtin.template" in task)
    restart = next(i for i, task in enumerate(tasks) if task.get("ansible.builtin.meta") == "flush_handlers")
    install = position("fer-edge model install")
    assert config < install < restart and "--no-restart" in commands[install]
    assert tasks[install]["notify"] == "Restart fer-edge"
    after_restart = [c for c in commands[restart:] if "model status" in c]
    assert after_restart and "--expect-bundle" in after_restart[0]


def role_file(name: str) -> list[dict]:
    return yaml.safe_load((ANSIBLE / "roles" / "fer_edge" / name / "main.yml").read_text())


def test_a_changed_unit_is_reloaded_before_it_is_started_and_only_a_restart_waits():
    tasks = [task["name"] for task in role_file("tasks")]
    assert tasks.index("Restart now if anything changed") < tasks.index("Service enabled and running")
    assert not any("wait_for" in task for task in role_file("tasks"))
    handlers = role_file("handlers")
    assert [h["name"] for h in handlers][:2] == ["Reload systemd", "Restart fer-edge"]  # handlers run in this order
    waits = [h for h in handlers if "ansible.builtin.wait_for" in h]
    assert waits and all(h.get("listen") == "Restart fer-edge" for h in waits)


def test_the_password_takes_the_units_credential_path():
    copy = next(t for t in role_file("tasks") if t["name"].startswith("MQTT password"))["ansible.builtin.copy"]
    unit = (ANSIBLE.parent / "fer-edge.service").read_text()
    assert f"LoadCredential=mqtt-password:{copy['dest']}\n" in unit and (copy["owner"], copy["mode"]) == ("root", "0600")
    assert "password_file" not in (ANSIBLE / "roles" / "fer_edge" / "defaults" / "main.yml").read_text()
    assert "EnvironmentFile" not in unit
