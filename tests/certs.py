"""Certificates for the TLS tests: the shipped make-certs.sh, plus odd ones (expired, another host) from its CA."""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MAKE_CERTS = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto" / "make-certs.sh"


def make_certs(out: Path, *names: str, broker: str = "broker") -> Path:
    """Run deploy/mosquitto/make-certs.sh into `out`; returns `out`."""
    subprocess.run([MAKE_CERTS, "--out", out, "--broker", broker, *names], check=True, capture_output=True)
    return out


def sign(ca_dir: Path, name: str, cn: str, days: float, server: bool = False, hosts: tuple[str, ...] = ()) -> Path:
    """`name`.crt/.key in ca_dir for CN `cn`, valid from a day ago for `days` more days (negative: expired)."""
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2) + min(datetime.timedelta(days=days), datetime.timedelta(0)))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if hosts:
        names = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in hosts]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    (ca_dir / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (ca_dir / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ca_dir / f"{name}.crt"
