"""The edge agent's one typed configuration tree, loaded once from TOML, environment and flags.

Precedence: flags over `FER_EDGE_...` environment variables over the TOML file over defaults. Every leaf
setting `section.key` is also the flag `--section-key` and the variable `FER_EDGE_SECTION_KEY`; both names
are derived from this tree, so they cannot drift from it. Secrets are read here, in `load_config`.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import socket
import sys
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from edge.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ENV_PREFIX = "FER_EDGE_"
CREDENTIAL = "mqtt-password"  # systemd credential (LoadCredential= in deploy/fer-edge.service)
NAME_PATTERN = r"^[A-Za-z0-9_-]+$"


def default_device_id() -> str:
    """The host name with anything outside [A-Za-z0-9_-] replaced, so it can sit in a topic."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "fer-edge"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PirConfig(Section):
    pin: str = Field("GPIO17", description="GPIO pin of the PIR's output, as gpiozero names it (17, GPIO17, BOARD11).")
    queue_len: int = Field(1, ge=1, le=100, description="Readings averaged before deciding (gpiozero queue_len).")
    threshold: float = Field(0.5, gt=0, lt=1, description="Fraction of those readings that must be high.")


class FrameMotionConfig(Section):
    width: int = Field(160, ge=32, le=1280, description="Frames are downscaled to this width before differencing.")
    threshold: int = Field(25, ge=1, le=255, description="Gray-level change that marks a pixel as changed.")
    min_area: float = Field(
        0.005, gt=0, le=1, description="Smallest changed region that counts as motion, as a fraction of the frame."
    )
    alpha: float = Field(0.2, gt=0, le=1, description="How fast the background follows the scene (0..1 per frame).")


class TriggerConfig(Section):
    kind: Literal["pir", "motion", "always"] = Field(
        "motion", description="pir: a GPIO motion sensor; motion: frame differencing; always: capture continuously."
    )
    quiet_seconds: float = Field(5.0, ge=0, le=3600, description="An event closes after this long without motion.")
    max_event_seconds: float = Field(300.0, gt=0, le=86400, description="A longer event is closed and a new one opened.")
    pir: PirConfig = Field(default_factory=PirConfig)
    motion: FrameMotionConfig = Field(default_factory=FrameMotionConfig)


class CameraConfig(Section):
    kind: Literal["picamera2", "opencv", "folder"] = Field("opencv", description="Which frame source reads `source`.")
    source: str = Field(
        "0", description="opencv: a /dev/video index, a video file or an RTSP/HTTP URL; folder: a directory of images."
    )

    @field_validator("source", mode="before")
    @classmethod
    def _index_as_text(cls, value: Any) -> Any:
        # `source = 0` in TOML is the natural way to write a /dev/video index
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    fps: float = Field(
        5.0, ge=0.001, le=60,  # under 0.001 the frame interval overflows the clocks it is waited on
        description="Frames read per second during an event; a video file plays in real time at its own rate, "
        "capped by this (frames in between are skipped).",
    )
    width: int = Field(640, ge=64, le=4096, description="Requested frame width (cameras only).")
    height: int = Field(480, ge=48, le=4096, description="Requested frame height (cameras only).")
    loop: bool = Field(False, description="Replay a video file or folder forever instead of stopping at its end.")
    retry_seconds: float = Field(1.0, gt=0, le=600, description="First wait before reopening a failed camera.")
    retry_max_seconds: float = Field(60.0, gt=0, le=3600, description="Longest wait between reopening attempts.")
    open_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="A network camera (URL) that has sent no video this long after an open is retried."
    )
    read_timeout_seconds: float = Field(
        2.0, gt=0, le=4, description="A network camera's frame may take this long before the camera counts as failed."
    )


class DetectorConfig(Section):
    kind: Literal["haar", "yunet"] = Field(
        "haar", description="haar: OpenCV's Haar cascade; yunet: the YuNet CNN (cv2.FaceDetectorYN), with eye landmarks."
    )
    yunet_model: Path | None = Field(
        None, description="YuNet ONNX file; default: the one shipped in edge/models/yunet/."
    )
    score_threshold: float = Field(0.7, gt=0, lt=1, description="YuNet: lowest face score accepted.")
    downscale: float = Field(
        2.0, ge=1, le=8,
        description="Faces are searched in the frame shrunk by this factor (less when min_face would fall below "
        "what the detector can see).",
    )
    min_face: int = Field(60, ge=24, le=2000, description="Smallest face side to find, in full-frame pixels.")
    scale_factor: float = Field(1.1, gt=1, le=2, description="Haar cascade image-pyramid step.")
    min_neighbors: int = Field(5, ge=0, le=50, description="Haar cascade overlapping hits needed to accept a face.")
    margin: float | None = Field(
        None, ge=0, le=0.5,
        description="Each face box grows by this fraction per side before cropping; default: the model's framing.",
    )
    align: bool | None = Field(
        None, description="Rotate each face so the eyes are level (YuNet landmarks); default: the model's framing."
    )
    max_faces: int = Field(10, ge=1, le=100, description="At most this many faces (the largest) per frame.")
    every_n_frames: int = Field(
        1, ge=1, le=30, description="Detect faces in every n-th frame; the tracker carries the boxes in between."
    )
    full_search_every: int = Field(
        5, ge=1, le=30,
        description="Haar: search the whole frame in every n-th detection only; in between, look for the tracked "
        "faces near where the tracker expects them (a face not found there, or none tracked, brings the whole-frame "
        "search forward; a new face elsewhere waits for it). 1: the whole frame every time. YuNet always searches "
        "the whole frame.",
    )

    @field_validator("yunet_model")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is not None:
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise ValueError(f"cannot read the YuNet model file ({exc.strerror})") from None
        return path


class ClassifierConfig(Section):
    model: Path | None = Field(
        None, description="TFLite model with its JSON sidecar; default: the shipped int8 model (see edge/modelfile.py)."
    )
    threads: int = Field(1, ge=1, le=16, description="Interpreter threads.")
    flip_average: bool | None = Field(
        None,
        description="Also classify each face's mirror image and average (one more inference per face); "
        "default: what the model's metadata says.",
    )
    runtime: Literal["ai-edge-litert", "tflite-runtime", "tensorflow"] | None = Field(
        None, description="TFLite runtime to use; default: the first that imports."
    )


class TlsConfig(Section):
    enabled: bool = Field(False, description="Use TLS; on by itself when ca_file is set.")
    ca_file: Path | None = Field(None, description="CA certificate(s) that signed the broker's; default: system CAs.")
    cert_file: Path | None = Field(None, description="Client certificate, for brokers that require one.")
    key_file: Path | None = Field(None, description="Private key of cert_file.")


class MqttConfig(Section):
    host: str = Field("localhost", min_length=1, description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 is the usual TLS port).")
    protocol: Literal["3.1.1", "5"] = Field(
        "5",
        description="MQTT protocol version; under 3.1.1 a broker drops a publish it refuses without saying so, "
        "under 5 it says why in the acknowledgement and the agent counts it as refused.",
    )
    client_id: str | None = Field(None, description="MQTT client id; default: fer-edge-<device_id>.")
    keepalive: int = Field(60, ge=5, le=3600, description="Seconds between keep-alive pings.")
    qos: int = Field(
        1, description="QoS of results, 1 or 2; an outbox row is deleted once this QoS completes (QoS 0 has no "
        "acknowledgement to wait for, so it is refused)."
    )
    topic_prefix: str = Field("fer", pattern=r"^[^#+/]+(/[^#+/]+)*$", description="Topics are <prefix>/<device_id>/...")
    username: str | None = Field(None, description="Broker user name.")
    password: SecretStr | None = Field(
        None,
        description="Broker password: FER_EDGE_MQTT_PASSWORD, password_file or the systemd credential "
        f"'{CREDENTIAL}'; refused in the config file.",
    )
    password_file: Path | None = Field(None, description="File holding the broker password (first line).")
    reconnect_max_seconds: int = Field(60, ge=1, le=3600, description="Longest wait between reconnection attempts.")
    tls: TlsConfig = Field(default_factory=TlsConfig)

    @field_validator("qos")
    @classmethod
    def _acknowledged_qos(cls, qos: int) -> int:
        if qos not in (1, 2):
            raise ValueError("must be 1 or 2: a QoS 0 message is never acknowledged, so the outbox could not "
                             "know it was delivered (and paho drops it while disconnected)")
        return qos


class PublishConfig(Section):
    include_face_image: bool = Field(False, description="Add the 48x48 face crop as base64 JPEG to emotion messages.")
    jpeg_quality: int = Field(90, ge=10, le=100, description="JPEG quality of that crop.")
    health_seconds: float = Field(60.0, ge=1, le=86400, description="Seconds between health reports (status topic).")
    flush_seconds: float = Field(
        3.0, ge=0, le=600, description="At shutdown, wait this long for queued results to reach the broker, if it is "
        "connected (SIGTERM ends the agent within this and a second)."
    )


class OutboxConfig(Section):
    path: Path = Field(Path("/var/lib/fer-edge/outbox.sqlite3"), description="SQLite file holding unsent results.")
    max_messages: int = Field(100_000, ge=10, le=10_000_000, description="Rows kept at most while the broker is away.")
    when_full: Literal["drop-oldest", "drop-newest"] = Field(
        "drop-oldest", description="What a full outbox gives up; each drop is counted in health and logged."
    )
    commit_seconds: float = Field(
        1.0, ge=0, le=60,
        description="Results and deletions are written together at most this often, sparing the SD card (the "
        "first result after a quiet spell at once); results are sent without waiting for it, and one acknowledged "
        "before its commit is never written; a crash can lose this long of results not yet stored. 0: every frame.",
    )

    @field_validator("path")
    @classmethod
    def _a_file(cls, path: Path) -> Path:
        if path.is_dir():
            raise ValueError(f"{path} is a folder; name the SQLite file the outbox keeps, "
                             f"e.g. {path / 'outbox.sqlite3'}")
        return path


class HomeAssistantConfig(Section):
    enabled: bool = Field(True, description="Publish Home Assistant MQTT discovery on connect.")
    discovery_prefix: str = Field("homeassistant", pattern=r"^[^#+]+$", description="Home Assistant's discovery prefix.")
    emotion_expire_seconds: int = Field(
        300, ge=0, le=86400,
        description="The emotion sensor turns unavailable this long after the last face (expire_after); 0: never.",
    )


class ModelStoreConfig(Section):
    path: Path = Field(
        Path("/var/lib/fer-edge/models"),
        description="Folder `fer-edge model install` installs bundles into. When classifier.model is not set and "
        "a bundle is installed, the agent runs it, and goes back to the previous one by itself if it fails to "
        "load or to reproduce its golden faces.",
    )
    trusted_keys: list[Path] = Field(
        default_factory=list,
        description="Ed25519 public keys (PEM files) a model bundle must be signed by; when any are set, unsigned "
        "or otherwise signed bundles, and bare model files, are refused. Comma-separated as a flag or variable.",
    )

    @field_validator("trusted_keys", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class EdgeConfig(Section):
    device_id: str = Field(
        default_factory=default_device_id, pattern=NAME_PATTERN, description="Names this device in topics and messages."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Logging threshold.")
    trigger: TriggerConfig = Field(default_factory=TriggerConfig)
    camera: CameraConfig = Field(default_factory=CameraConfig)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    publish: PublishConfig = Field(default_factory=PublishConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    homeassistant: HomeAssistantConfig = Field(default_factory=HomeAssistantConfig)
    model_store: ModelStoreConfig = Field(default_factory=ModelStoreConfig)

    @field_validator("camera")
    @classmethod
    def _retry_bounds(cls, camera: CameraConfig) -> CameraConfig:
        if camera.retry_max_seconds < camera.retry_seconds:
            raise ValueError("retry_max_seconds must not be below retry_seconds")
        return camera


Setting = tuple[str, ...]


def iter_settings(model: type[BaseModel] = EdgeConfig, prefix: Setting = ()) -> Iterator[tuple[Setting, Any]]:
    """(path, field info) of every leaf setting, sections walked depth first."""
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from iter_settings(annotation, prefix + (name,))
        else:
            yield prefix + (name,), info


def flag_name(path: Setting) -> str:
    return "--" + "-".join(path).replace("_", "-")


def env_name(path: Setting) -> str:
    return ENV_PREFIX + "_".join(path).upper()


def secret_settings() -> set[Setting]:
    """Settings typed SecretStr: never flags (a command line is visible to every user), never echoed in errors."""
    return {path for path, info in iter_settings() if "SecretStr" in str(info.annotation)}


def read_toml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")  # the byte-order mark Windows editors write
        return tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a TOML text file (byte {exc.start} is not UTF-8)") from None


def file_type_errors(data: dict[str, Any], source: str) -> dict[Setting, str]:
    """A line for each TOML value of the wrong kind for its setting.

    Validation is lenient because flags and variables arrive as text; in the file, where TOML has real booleans
    and numbers, `fps = true` (read as 1) or `loop = "no"` are mistakes to name, not to convert.
    """
    lines = {}
    for path, info in iter_settings():
        node: Any = data
        for key in path:
            node = node.get(key, None) if isinstance(node, dict) else None
        wanted = scalar_kind(info.annotation)
        if node is None or wanted is None or value_fits(node, wanted):
            continue
        hint = " without quotes" if isinstance(node, str) else ""
        lines[path] = f"{source}: field '{'.'.join(path)}': expected {KIND_NAMES[wanted]}{hint} (got {json.dumps(node)})"
    return lines


KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number"}


def scalar_kind(annotation: Any) -> type | None:
    """bool, int or float for a setting of that type (optional or not); None for any other type."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = kinds[0] if len(kinds) == 1 else None
    return annotation if annotation in KIND_NAMES else None


def value_fits(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (kind is float and isinstance(value, float))


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line per FER_EDGE_* variable that names no setting (a typo would otherwise be ignored)."""
    known = [env_name(path) for path, _ in iter_settings()]
    lines = []
    for name in sorted(n for n in environ if n.startswith(ENV_PREFIX) and n not in known):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        lines.append(f"{name}: no such setting{hint}")
    return lines


def collect_overrides(environ: Mapping[str, str], flags: Mapping[Setting, str]) -> dict[Setting, tuple[str, str]]:
    """path -> (value, where it came from) for every setting given in the environment or as a flag."""
    found: dict[Setting, tuple[str, str]] = {}
    for path, _ in iter_settings():
        if env_name(path) in environ:
            found[path] = (environ[env_name(path)], env_name(path))
        if path in flags:
            found[path] = (flags[path], flag_name(path))
    return found


def apply_override(data: dict[str, Any], path: Setting, value: str) -> None:
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = None if value == "" else value


def describe_errors(
    error: ValidationError, source: str, origins: Mapping[Setting, str], skip: set[Setting] = frozenset()
) -> list[str]:
    """One line per bad field (but those in skip, already named): where it was set, its dotted name, what is wrong."""
    lines = []
    for item in error.errors():
        path = tuple(str(p) for p in item["loc"])
        if path in skip:
            continue
        where = origins.get(path, source)
        message = unknown_setting(path) if item["type"] == "extra_forbidden" else item["msg"]
        value = "" if item["type"] == "extra_forbidden" or path in secret_settings() else f" (got {item['input']!r})"
        if path in origins and item["input"] is None:  # an empty flag or variable, which means "unset"
            message, value = "is empty, and this setting has no unset value; give one or leave it out", ""
        lines.append(f"{where}: field '{'.'.join(path)}': {message}{value}")
    return lines


def unknown_setting(path: Setting) -> str:
    """'unknown setting', with the closest name among its section's settings when one is close."""
    section: Any = EdgeConfig
    for key in path[:-1]:
        info = getattr(section, "model_fields", {}).get(key)
        section = info.annotation if info is not None else None
    names = list(getattr(section, "model_fields", {}))
    close = difflib.get_close_matches(path[-1], names, n=1)
    return "unknown setting" + (f"; did you mean '{'.'.join(path[:-1] + (close[0],))}'?" if close else "")


def read_secret(path: Path, field: str, source: str) -> str:
    """The first line of a secret file; ConfigError naming the field (never the secret) when unreadable or empty."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        problem = f"cannot read {path} ({getattr(exc, 'strerror', None) or 'not UTF-8 text'})"
        raise ConfigError(f"{source}: field '{field}': {problem}") from None
    if not lines or not lines[0].strip():
        what = "its first line is blank" if any(line.strip() for line in lines) else "is empty"
        raise ConfigError(f"{source}: field '{field}': {path} {what}; its first line must be the password")
    return lines[0]


def read_password(mqtt: MqttConfig, source: str, environ: Mapping[str, str] | None = None) -> MqttConfig:
    """Fill mqtt.password from mqtt.password_file, else from the systemd credential `mqtt-password`, if set.

    An empty credential means no password (the installers create it empty for brokers that need none).
    """
    if mqtt.password is not None:
        return mqtt
    if mqtt.password_file is not None:
        return mqtt.model_copy(update={"password": SecretStr(read_secret(mqtt.password_file, "mqtt.password_file", source))})
    environ = os.environ if environ is None else environ
    credential = Path(environ.get("CREDENTIALS_DIRECTORY", "/nonexistent")) / CREDENTIAL
    if not credential.is_file() or not credential.read_bytes().strip():  # bytes: read_secret names bad text
        return mqtt
    return mqtt.model_copy(update={"password": SecretStr(read_secret(credential, "mqtt.password", source))})


def refuse_secrets_in_file(data: dict[str, Any], source: str) -> None:
    """A password written in the TOML is refused: config files get copied, backed up and shown around."""
    for path in secret_settings():
        node: Any = data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            name = ".".join(path)
            raise ConfigError(
                f"{source}: field '{name}': a password does not belong in the config file; put it in a file of its "
                f"own (mqtt.password_file) or the service's systemd credential '{CREDENTIAL}' (deploy/README.md)"
            )


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[Setting, str] | None = None,
) -> EdgeConfig:
    """The validated config; ConfigError listing every bad field (one per line) otherwise."""
    environ = os.environ if environ is None else environ
    source = str(path) if path else "defaults"
    data = read_toml(Path(path)) if path else {}
    refuse_secrets_in_file(data, source)
    problems = unknown_variables(environ)
    if problems:
        raise ConfigError("\n".join(problems))
    mistyped = file_type_errors(data, source)
    overrides = collect_overrides(environ, flags or {})
    for setting, (value, _) in overrides.items():
        apply_override(data, setting, value)
    try:
        config = EdgeConfig.model_validate(data)
    except ValidationError as exc:
        origins = {setting: where for setting, (_, where) in overrides.items()}
        others = describe_errors(exc, source, origins, skip=set(mistyped))
        raise ConfigError("\n".join([*mistyped.values(), *others])) from None
    if mistyped:
        raise ConfigError("\n".join(mistyped.values()))
    return config.model_copy(update={"mqtt": read_password(config.mqtt, source, environ)})
