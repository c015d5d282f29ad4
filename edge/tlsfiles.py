"""Checks of the MQTT TLS files before the agent connects: present, parseable, key matching, not (nearly) expired.

Also whether the client certificate names this device: the shipped broker takes the certificate's CN as the
user name its ACL checks (deploy/mosquitto/), so a CN other than `device_id` gets every publish refused.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from edge.config import EdgeConfig
from edge.errors import ConfigError

WARN_DAYS = 30


def check_tls_files(config: EdgeConfig, now: datetime.datetime | None = None) -> list[str]:
    """Warnings (expiring soon, identity unlike device_id); ConfigError naming the field for anything unusable."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    tls = config.mqtt.tls
    warnings: list[str] = []
    if tls.ca_file is not None:
        for cert in read_certificates(tls.ca_file, "mqtt.tls.ca_file"):
            warnings += expiry_warnings(cert, tls.ca_file, "mqtt.tls.ca_file", now)
    if (tls.cert_file is None) != (tls.key_file is None):
        given, missing = ("cert_file", "key_file") if tls.key_file is None else ("key_file", "cert_file")
        raise ConfigError(f"field 'mqtt.tls.{missing}': needed with mqtt.tls.{given}")
    if tls.cert_file is not None:
        cert = read_certificates(tls.cert_file, "mqtt.tls.cert_file")[0]
        check_key_matches(cert, tls.key_file)
        warnings += expiry_warnings(cert, tls.cert_file, "mqtt.tls.cert_file", now)
        warnings += identity_warnings(config, common_name(cert))
    elif config.mqtt.username is not None:
        warnings += identity_warnings(config, config.mqtt.username)
    return warnings


def read_certificates(path: Path, field: str) -> list:
    from cryptography import x509

    data = read_file(path, field)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ConfigError(f"field '{field}': {path} is not a PEM certificate ({exc})") from None
    return certificates


def check_key_matches(cert, key_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    data = read_file(key_path, "mqtt.tls.key_file")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ConfigError(f"field 'mqtt.tls.key_file': {key_path} is encrypted; the agent needs it unencrypted") from None
    except ValueError as exc:
        raise ConfigError(f"field 'mqtt.tls.key_file': {key_path} is not a PEM private key ({exc})") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    ours = key.public_key().public_bytes(serialization.Encoding.DER, public)
    if ours != cert.public_key().public_bytes(serialization.Encoding.DER, public):
        raise ConfigError(f"field 'mqtt.tls.key_file': {key_path} is not the key of the certificate in mqtt.tls.cert_file")


def expiry_warnings(cert, path: Path, field: str, now: datetime.datetime) -> list[str]:
    ends, starts = cert.not_valid_after_utc, cert.not_valid_before_utc
    name = common_name(cert) or "(no CN)"
    if ends <= now:
        raise ConfigError(f"field '{field}': certificate {name} in {path} expired on {ends:%Y-%m-%d}")
    if starts > now:
        raise ConfigError(f"field '{field}': certificate {name} in {path} is not valid before {starts:%Y-%m-%d %H:%M} UTC")
    days = (ends - now).days
    if days < WARN_DAYS:
        return [f"field '{field}': certificate {name} in {path} expires in {days} days, on {ends:%Y-%m-%d}"]
    return []


def identity_warnings(config: EdgeConfig, identity: str | None) -> list[str]:
    if identity is None or identity == config.device_id:
        return []
    prefix = config.mqtt.topic_prefix
    return [
        f"device_id {config.device_id!r} is not the broker identity {identity!r} (certificate CN or mqtt.username): "
        f"the shipped broker ACL lets this client write only under {prefix}/{identity}/, so every result on "
        f"{prefix}/{config.device_id}/ would be refused"
    ]


def common_name(cert) -> str | None:
    from cryptography.x509.oid import NameOID

    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def read_file(path: Path, field: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"field '{field}': {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"field '{field}': cannot read {path} ({exc.strerror})") from None
