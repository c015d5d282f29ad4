from pathlib import Path

import pytest

from certs import make_certs
from edge.cli import main
from edge.config import load_config
from edge.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "edge.toml.example"


def test_check_config_accepts_the_example(capsys, tmp_path):
    ca = make_certs(tmp_path) / "ca.crt"  # the example's ca_file, /etc/fer-edge/ca.crt, is not on this machine
    assert main(["check-config", str(EXAMPLE), "--mqtt-tls-ca-file", str(ca)]) == 0
    assert "ok" in capsys.readouterr().out


def test_check_config_names_each_bad_field(tmp_path, capsys):
    bad = tmp_path / "edge.toml"
    bad.write_text('[camera]\nfps = -1\n[mqtt]\nhots = "x"\nport = "many"\n')
    assert main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"fer-edge: error: {bad}: field 'camera.fps': Input should be greater than or equal to 0.001" in err
    assert "field 'mqtt.hots': unknown setting" in err and "field 'mqtt.port'" in err


def test_invalid_toml_names_the_line(tmp_path):
    bad = tmp_path / "edge.toml"
    bad.write_text("[mqtt]\nhost = \n")
    with pytest.raises(ConfigError, match=r"edge.toml: invalid TOML: .*line 2"):
        load_config(bad)


def test_flags_beat_environment_beat_file(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text('[mqtt]\nhost = "file"\nport = 1000\nkeepalive = 30\n')
    config = load_config(path, {"FER_EDGE_MQTT_HOST": "env", "FER_EDGE_MQTT_PORT": "2000"}, {("mqtt", "host"): "flag"})
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.keepalive) == ("flag", 2000, 30)


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match="FER_EDGE_CAMERA_FPS: field 'camera.fps'"):
        load_config(None, {"FER_EDGE_CAMERA_FPS": "fast"})


def test_password_comes_from_its_file_and_is_never_shown(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("hunter2\n")
    config = load_config(None, {}, {("mqtt", "password_file"): str(secret)})
    assert config.mqtt.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(config)


def test_the_detector_is_chosen_by_file_environment_or_flag(tmp_path):
    from edge.detector import HaarFaceDetector, YuNetFaceDetector, open_detector

    path = tmp_path / "edge.toml"
    path.write_text('[detector]\nkind = "yunet"\n')
    assert isinstance(open_detector(load_config().detector), HaarFaceDetector)
    assert isinstance(open_detector(load_config(path).detector), YuNetFaceDetector)
    assert load_config(path, {"FER_EDGE_DETECTOR_KIND": "haar"}).detector.kind == "haar"
    assert load_config(None, {}, {("detector", "kind"): "yunet"}).detector.kind == "yunet"


def test_a_missing_yunet_model_is_named_by_check_config(tmp_path, capsys):
    path = tmp_path / "edge.toml"
    path.write_text(f'[detector]\nkind = "yunet"\nyunet_model = "{tmp_path / "gone.onnx"}"\n')
    assert main(["check-config", str(path)]) == 1
    assert f"{path}: field 'detector.yunet_model': Value error, cannot read the YuNet model file" in capsys.readouterr().err


def test_a_yunet_model_that_does_not_load_is_named_by_check_config(tmp_path, capsys):
    (tmp_path / "yunet.onnx").write_bytes(b"not an onnx model")
    path = tmp_path / "edge.toml"
    path.write_text(f'[detector]\nkind = "yunet"\nyunet_model = "{tmp_path / "yunet.onnx"}"\n')
    assert main(["check-config", str(path)]) == 1
    assert capsys.readouterr().err == (f"fer-edge: error: field 'detector.yunet_model': {tmp_path / 'yunet.onnx'} "
                                       "is not a loadable YuNet ONNX model\n")


def test_a_binary_config_file_is_one_clear_line(tmp_path, capsys):
    path = tmp_path / "edge.toml"
    path.write_bytes(b"\x00\x01\xff\xfe")
    assert main(["check-config", str(path)]) == 1
    assert capsys.readouterr().err == f"fer-edge: error: {path}: not a TOML text file (byte 2 is not UTF-8)\n"


def test_a_frame_rate_too_small_to_wait_on_is_refused(capsys):
    assert main(["check-config", "--camera-fps", "1e-300"]) == 1
    assert "field 'camera.fps': Input should be greater than or equal to 0.001" in capsys.readouterr().err


def test_a_password_in_the_config_file_is_refused_and_not_shown(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text('[mqtt]\npassword = "hunter2"\n')
    with pytest.raises(ConfigError, match="field 'mqtt.password': a password does not belong in the config file") as error:
        load_config(path, {})
    assert "hunter2" not in str(error.value)


def test_an_empty_password_file_is_refused(tmp_path):
    (tmp_path / "password").write_text("\n")
    with pytest.raises(ConfigError, match="field 'mqtt.password_file': .*password is empty"):
        load_config(None, {}, {("mqtt", "password_file"): str(tmp_path / "password")})
    (tmp_path / "password").write_text("\n\nhunter2\n")
    with pytest.raises(ConfigError, match="password its first line is blank; its first line must be the password"):
        load_config(None, {}, {("mqtt", "password_file"): str(tmp_path / "password")})


def test_the_password_comes_from_the_systemd_credential(tmp_path):
    (tmp_path / "mqtt-password").write_text("hunter2\n")
    assert load_config(None, {"CREDENTIALS_DIRECTORY": str(tmp_path)}).mqtt.password.get_secret_value() == "hunter2"
    (tmp_path / "mqtt-password").write_text("")  # what the installers leave for a broker without passwords
    assert load_config(None, {"CREDENTIALS_DIRECTORY": str(tmp_path)}).mqtt.password is None
    (tmp_path / "mqtt-password").write_bytes("hunter2\n".encode("utf-16"))  # saved by a Windows editor
    with pytest.raises(ConfigError, match=r"field 'mqtt.password': cannot read .*mqtt-password \(not UTF-8 text\)"):
        load_config(None, {"CREDENTIALS_DIRECTORY": str(tmp_path)})


def test_a_config_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_bytes(b'\xef\xbb\xbfdevice_id = "shop-door"\n')  # Notepad's "UTF-8 with BOM"
    assert load_config(path).device_id == "shop-door"


def test_a_misspelled_variable_is_refused_with_the_closest_name():
    with pytest.raises(ConfigError, match="^FER_EDGE_MQTT_HOTS: no such setting; did you mean FER_EDGE_MQTT_HOST\\?$"):
        load_config(None, {"FER_EDGE_MQTT_HOTS": "broker.lan"})


def test_an_unknown_key_is_named_with_the_closest_one(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text('[camera]\nfsp = 5\n')
    with pytest.raises(ConfigError, match="field 'camera.fsp': unknown setting; did you mean 'camera.fps'\\?"):
        load_config(path, {})


@pytest.mark.parametrize("argv", [["--mqtt-password", "hunter2"], ["--mqtt-password=hunter2"]])
def test_no_abbreviated_flags_and_no_secret_in_the_error(capsys, argv):
    with pytest.raises(SystemExit) as exit:
        main(["check-config", *argv])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and "unrecognized arguments: --mqtt-password (values not shown" in err
    assert "hunter2" not in err


def test_qos_0_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="FER_EDGE_MQTT_QOS: field 'mqtt.qos': .*must be 1 or 2: a QoS 0 message is never ack"):
        load_config(None, {"FER_EDGE_MQTT_QOS": "0"})
    assert load_config(None, {"FER_EDGE_MQTT_QOS": "2"}).mqtt.qos == 2


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("[camera]\nfps = true", "field 'camera.fps': expected a number (got true)"),
        ('[camera]\nloop = "no"', "field 'camera.loop': expected true or false without quotes (got \"no\")"),
        ("[detector]\nalign = 0", "field 'detector.align': expected true or false (got 0)"),
        ('[mqtt]\nport = "1883"', "field 'mqtt.port': expected a whole number without quotes (got \"1883\")"),
        ("[camera]\nwidth = 640.5", "field 'camera.width': expected a whole number (got 640.5)"),
    ],
)
def test_a_file_value_of_the_wrong_kind_is_named_not_converted(tmp_path, line, expected):
    path = tmp_path / "edge.toml"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert str(caught.value) == f"{path}: {expected}"


def test_the_same_text_is_fine_as_a_variable_and_a_camera_index_may_be_a_number(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text("[camera]\nsource = 2\nfps = 3\n")
    config = load_config(path, {"FER_EDGE_CAMERA_LOOP": "true", "FER_EDGE_MQTT_PORT": "1884"})
    assert (config.camera.source, config.camera.fps, config.camera.loop, config.mqtt.port) == ("2", 3.0, True, 1884)


def test_an_empty_flag_for_a_setting_that_needs_a_value_says_so():
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"FER_EDGE_MQTT_PORT": ""}, {("mqtt", "host"): ""})
    lines = str(caught.value).splitlines()
    assert sorted(lines) == [
        "--mqtt-host: field 'mqtt.host': is empty, and this setting has no unset value; give one or leave it out",
        "FER_EDGE_MQTT_PORT: field 'mqtt.port': is empty, and this setting has no unset value; give one or leave it out",
    ]


def test_check_config_refuses_two_different_files(tmp_path, capsys):
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text('[mqtt]\nhost = "a"\n')
    second.write_text('[mqtt]\nhost = "b"\n')
    assert main(["check-config", str(first), "--config", str(second)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"fer-edge: error: two config files ({first} and --config {second}); give the one to check once"
    )
