"""Ed25519 keys and signatures of model bundles, through `cryptography`.

A private key is a PKCS#8 PEM file (mode 0600), its public key the PEM file beside it (`<key>.pub`). A key's
id is the first 16 hex digits of the sha256 of its raw 32 public bytes: a signature names the key that made it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from edge.errors import FerEdgeError


class KeyFileError(FerEdgeError, ValueError):
    """A key file that is missing or is not an Ed25519 PEM key; the text names the file."""


def _serialization():
    from cryptography.hazmat.primitives import serialization

    return serialization


def key_id(public_key) -> str:
    serialization = _serialization()
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.name + ".pub")


def generate_key(path: str | Path) -> tuple[Path, Path, str]:
    """Write a new private key to `path` (0600, never overwritten) and its public key beside it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    serialization = _serialization()
    path = Path(path)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    pub_path = public_key_path(path)
    for taken in (path, pub_path):  # both checked before either is written: no private key without its public one
        if taken.exists() or taken.is_symlink():
            what = "a folder" if taken.is_dir() else "already exists"
            raise KeyFileError(f"{taken}: {what}; not overwriting a key")
    public = private.public_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot write the key ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        pub_path.write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise KeyFileError(f"{exc.filename or path}: cannot write the key ({exc.strerror})") from None
    return path, pub_path, key_id(public)


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key ({exc.strerror})") from None


def load_private_key(path: str | Path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = _read(Path(path))  # outside the try: its KeyFileError is a ValueError too, and says it all
    try:
        key = _serialization().load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: str | Path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = _read(Path(path))
    try:
        key = _serialization().load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return key


def trusted_keys(paths) -> dict[str, object]:
    """key id -> public key, for every configured public key file."""
    keys = {}
    for path in paths:
        try:
            key = load_public_key(path)
        except KeyFileError as exc:
            raise KeyFileError(f"field 'model_store.trusted_keys': {exc}") from None
        keys[key_id(key)] = key
    return keys


def sign(private_key, data: bytes) -> bytes:
    return private_key.sign(data)


def signature_valid(public_key, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True
