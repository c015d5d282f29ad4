"""Model bundles: one file with a converted model, its sidecar, its verification report and its golden faces.

A bundle is an uncompressed tar holding `manifest.json` (format, model id, tolerance, the sha256 of every
part), the parts themselves, and, once signed, `signature.json` (the Ed25519 signature of manifest.json's
bytes and the id of the key that made it). Nothing is extracted by name from the archive: members are read
into memory and only the names below are accepted. The golden faces are a few of the converter's
verification faces with the probabilities it measured for them; a model that does not reproduce them within
the manifest's tolerance, through the agent's own classifier, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge.errors import ModelError
from edge.metadata import check_model_file, read_metadata, sidecar_path
from edge.preprocess import FACE_SIZE
from edge.signing import key_id, signature_valid

FORMAT = "fer-edge-bundle/1"
MODEL, SIDECAR, REPORT, GOLDEN = "model.tflite", "model.json", "verify.json", "golden.npz"
PARTS = (MODEL, SIDECAR, REPORT, GOLDEN)
MANIFEST, SIGNATURE = "manifest.json", "signature.json"
DEFAULT_TOLERANCE = 0.05
MAX_MEMBER_BYTES = 256 << 20


class BundleError(ModelError):
    """A bundle that is malformed or incomplete; the text names the file and the part."""


class TamperedBundleError(BundleError):
    """A part whose sha256 is not the one its manifest lists."""


class UnsignedBundleError(BundleError):
    """A bundle without a signature where trusted keys are configured."""


class UntrustedKeyError(BundleError):
    """A bundle signed by a key that is not among the trusted keys."""


class BadSignatureError(BundleError):
    """A signature that a trusted key does not verify: the manifest was changed after signing."""


class GoldenMismatchError(BundleError):
    """The model does not reproduce its golden faces' probabilities within the bundle's tolerance."""


def report_path(model_path: Path) -> Path:
    """`<model stem>.verify.json`: the converter's verification report beside the model."""
    return model_path.with_name(model_path.stem + ".verify.json")


def golden_path(model_path: Path) -> Path:
    """`<model stem>.golden.npz`: the converter's golden faces and their measured probabilities."""
    return model_path.with_name(model_path.stem + ".golden.npz")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Bundle:
    """A bundle's manifest (its exact bytes, which the signature covers), parts and signature."""

    source: str
    manifest_bytes: bytes
    parts: dict[str, bytes]
    signature: dict | None

    @property
    def manifest(self) -> dict:
        return json.loads(self.manifest_bytes)

    @property
    def digest(self) -> str:
        """sha256 of the manifest: names this exact bundle."""
        return sha256_hex(self.manifest_bytes)

    @property
    def folder_name(self) -> str:
        """The store folder this bundle installs into: the manifest's digest, and its signature's when signed, so that
        signing or re-signing a bundle installs it anew rather than finding the unsigned copy in place."""
        if self.signature is None:
            return self.digest[:16]
        return sha256_hex(self.manifest_bytes + b"\0" + self.members()[SIGNATURE])[:16]

    @property
    def model_id(self) -> str:
        return self.manifest["model_id"]

    @property
    def model_sha256(self) -> str:
        return self.manifest["parts"][MODEL]

    @property
    def tolerance(self) -> float:
        return float(self.manifest["tolerance"])

    def members(self) -> dict[str, bytes]:
        """Every file of the bundle, by name."""
        members = {MANIFEST: self.manifest_bytes} | self.parts
        if self.signature is not None:
            members[SIGNATURE] = json.dumps(self.signature, indent=2).encode() + b"\n"
        return members


def golden_bytes(faces: np.ndarray, probabilities: np.ndarray) -> bytes:
    """The golden faces (uint8 [N, 48, 48]) and the probabilities measured for them (float32 [N, classes])."""
    buffer = io.BytesIO()
    np.savez(buffer, faces=np.asarray(faces, np.uint8), probabilities=np.asarray(probabilities, np.float32))
    return buffer.getvalue()


def write_golden(path: Path, faces: np.ndarray, probabilities: np.ndarray) -> Path:
    path.write_bytes(golden_bytes(faces, probabilities))
    return path


def read_golden(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with loaded as npz:
            faces, probabilities = npz["faces"], npz["probabilities"]
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as exc:  # EOFError: empty file
        raise BundleError(f"{source}: {GOLDEN} is not a golden-face file ({str(exc) or 'empty'})") from None
    if faces.ndim != 3 or probabilities.ndim != 2 or len(faces) != len(probabilities) or len(faces) == 0:
        raise BundleError(f"{source}: {GOLDEN} holds faces {faces.shape} and probabilities {probabilities.shape}")
    if faces.shape[1:] != (FACE_SIZE, FACE_SIZE) or faces.dtype != np.uint8:
        raise BundleError(f"{source}: {GOLDEN} holds {faces.shape[1]}x{faces.shape[2]} {faces.dtype} faces, "
                          f"expected {FACE_SIZE}x{FACE_SIZE} uint8")
    if probabilities.dtype.kind != "f" or not ((probabilities >= 0) & (probabilities <= 1)).all():
        raise BundleError(f"{source}: {GOLDEN} holds probabilities that are not numbers between 0 and 1")
    return faces, probabilities


def bundle_inputs(model_path: Path) -> dict[str, Path]:
    """The files a bundle of `model_path` is packed from, by part name."""
    return {MODEL: model_path, SIDECAR: sidecar_path(model_path), REPORT: report_path(model_path),
            GOLDEN: golden_path(model_path)}


def refuse_overwriting_a_part(output: Path, files: dict[str, Path]) -> None:
    """BundleError when the bundle would be written over one of the files it is packed from."""
    for name, path in files.items():
        if output.absolute() == path.absolute() or (output.exists() and path.exists() and output.samefile(path)):
            raise BundleError(f"{output}: is the bundle's {name} ({path}); name a bundle file of its own")


def pack(model_path: str | Path, output: str | Path, tolerance: float = DEFAULT_TOLERANCE) -> Bundle:
    """Bundle a converted model with the sidecar, report and golden faces fer-convert wrote beside it."""
    model_path = Path(model_path)
    files = bundle_inputs(model_path)
    refuse_overwriting_a_part(Path(output), files)
    parts = {}
    for name, path in files.items():
        try:
            parts[name] = path.read_bytes()
        except OSError as exc:
            raise BundleError(f"{path}: cannot read the bundle's {name} ({exc.strerror}); "
                              "fer-convert writes it beside the model") from None
    metadata = read_metadata(model_path)  # what install would refuse of the sidecar, named before packing
    check_model_file(model_path, metadata)
    read_golden(parts[GOLDEN], str(files[GOLDEN]))
    manifest = {
        "format": FORMAT,
        "model_id": metadata.model_id,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tolerance": tolerance,
        "parts": {name: sha256_hex(data) for name, data in parts.items()},
    }
    bundle = Bundle(str(output), json.dumps(manifest, indent=2).encode() + b"\n", parts, None)
    write_bundle(Path(output), bundle)
    return bundle


def write_bundle(path: Path, bundle: Bundle) -> Path:
    """Write the tar beside its final name, fsync it, then rename it into place (through a symlink, into the file
    it names: the link stays a link)."""
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if path.is_dir():
        raise BundleError(f"{path}: a folder; name the bundle file to write")
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name, data in bundle.members().items():
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = len(data), 0o644, 0
                    tar.addfile(info, io.BytesIO(data))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        where = "its folder does not exist" if not path.parent.is_dir() else exc.strerror
        raise BundleError(f"{path}: cannot write the bundle ({where})") from None
    return path


def usable_tolerance(value) -> bool:
    """A number in 0..1: not a bool, and not NaN, over which no gap would ever be."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def from_members(source: str, members: dict[str, bytes]) -> Bundle:
    """A Bundle from its files by name; BundleError naming what is missing or unexpected."""
    unexpected = sorted(set(members) - {MANIFEST, SIGNATURE, *PARTS})
    if unexpected:
        raise BundleError(f"{source}: unexpected member {unexpected[0]!r}")
    missing = [name for name in (MANIFEST, *PARTS) if name not in members]
    if missing:
        raise BundleError(f"{source}: no {missing[0]} in the bundle")
    try:
        manifest = json.loads(members[MANIFEST])
        signature = json.loads(members[SIGNATURE]) if SIGNATURE in members else None
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested too deep, an int too long to read
        raise BundleError(f"{source}: {MANIFEST} or {SIGNATURE} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{source}: {MANIFEST}: format is not {FORMAT!r}")
    listed = manifest.get("parts")
    if not (isinstance(listed, dict) and set(listed) == set(PARTS) and all(isinstance(v, str) for v in listed.values())
            and usable_tolerance(manifest.get("tolerance"))):
        raise BundleError(f"{source}: {MANIFEST}: needs parts {', '.join(PARTS)} (each to its sha256) and a "
                          "tolerance between 0 and 1")
    model_id = manifest.get("model_id")
    if not (isinstance(model_id, str) and model_id and model_id.isprintable()):  # status prints it as one line
        raise BundleError(f"{source}: {MANIFEST}: needs a model_id, as one line of printable text")
    if signature is not None and not (isinstance(signature, dict) and {"key_id", "signature"} <= set(signature)
                                      and all(isinstance(signature[k], str) for k in ("key_id", "signature"))):
        raise BundleError(f"{source}: {SIGNATURE}: needs key_id and signature, as text")
    parts = {name: members[name] for name in PARTS}
    return Bundle(source, members[MANIFEST], parts, signature)


def read_bundle(path: str | Path) -> Bundle:
    """The bundle file at `path`; BundleError when it is no bundle."""
    members = {}
    try:
        with tarfile.open(path, mode="r:") as tar:
            for info in tar:
                if not info.isfile() or info.size > MAX_MEMBER_BYTES or info.name in members:
                    raise BundleError(f"{path}: member {info.name!r} is not a plain file of a sane size, or repeated")
                members[info.name] = tar.extractfile(info).read()
    except tarfile.TarError as exc:
        raise BundleError(f"{path}: not a model bundle ({exc})") from None
    except OSError as exc:
        raise BundleError(f"{path}: cannot read ({exc.strerror})") from None
    return from_members(str(path), members)


def read_directory(folder: Path) -> Bundle:
    """An installed bundle: its files laid out in `folder`."""
    members = {}
    for name in (MANIFEST, SIGNATURE, *PARTS):
        if (folder / name).is_file():
            members[name] = (folder / name).read_bytes()
    return from_members(str(folder), members)


def check_signature(bundle: Bundle, keys: dict) -> str | None:
    """With trusted keys (id -> public key), the id of the key whose valid signature the bundle carries."""
    if not keys:
        return None
    if bundle.signature is None:
        raise UnsignedBundleError(f"{bundle.source}: not signed, and trusted keys are configured "
                                  "(sign it: fer-edge model sign BUNDLE --key KEY)")
    signer = str(bundle.signature["key_id"])
    if signer not in keys:
        raise UntrustedKeyError(f"{bundle.source}: signed by key {signer}, which is not among the trusted keys "
                                f"({', '.join(sorted(keys))})")
    try:
        signature = base64.b64decode(bundle.signature["signature"], validate=True)
    except (ValueError, TypeError):
        signature = b""
    if not signature_valid(keys[signer], signature, bundle.manifest_bytes):
        raise BadSignatureError(f"{bundle.source}: the signature of key {signer} does not match {MANIFEST}")
    return signer


def check_parts(bundle: Bundle) -> None:
    """TamperedBundleError naming the first part whose sha256 differs from the manifest's."""
    for name, expected in bundle.manifest["parts"].items():
        actual = sha256_hex(bundle.parts[name])
        if actual != expected:
            raise TamperedBundleError(f"{bundle.source}: {name} has sha256 {actual[:16]}…, "
                                      f"the manifest says {expected[:16]}…: the bundle was altered")


def verify(bundle: Bundle, keys: dict) -> str | None:
    """Signature (when keys are configured), the sha256 of every part, then golden faces a model can take; returns
    the signer's key id."""
    signer = check_signature(bundle, keys)
    check_parts(bundle)
    read_golden(bundle.parts[GOLDEN], bundle.source)
    return signer


def signed(bundle: Bundle, private_key) -> Bundle:
    """The same bundle carrying an Ed25519 signature of its manifest."""
    signature = base64.b64encode(private_key.sign(bundle.manifest_bytes)).decode("ascii")
    return Bundle(bundle.source, bundle.manifest_bytes, bundle.parts,
                  {"key_id": key_id(private_key.public_key()), "signature": signature})


def check_golden(classifier, bundle: Bundle) -> float:
    """Run the golden faces through `classifier`; the largest probability gap, or GoldenMismatchError."""
    faces, expected = read_golden(bundle.parts[GOLDEN], bundle.source)
    measured = classifier.predict_proba(faces)
    if measured.shape != expected.shape:
        raise GoldenMismatchError(f"{bundle.source}: the model gives {measured.shape[1]} probabilities per face, "
                                  f"the golden faces {expected.shape[1]}")
    gap = float(np.abs(measured - expected).max())
    if not gap <= bundle.tolerance:  # NaN from the model is a mismatch too
        raise GoldenMismatchError(f"{bundle.source}: on its {len(faces)} golden faces the model differs from the "
                                  f"converter's probabilities by up to {gap:.4f}, over the tolerance {bundle.tolerance}")
    return gap
