"""edge/bundle.py, signing.py, modelstore.py: bundles are verified, signed, installed atomically, rolled back."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from edge.bundle import (GOLDEN, Bundle, MODEL, SIDECAR, BadSignatureError, GoldenMismatchError, TamperedBundleError,
                         UnsignedBundleError, UntrustedKeyError, golden_path, pack, read_bundle, signed,
                         write_bundle, write_golden)
from edge.classifier import TFLiteEmotionClassifier
from edge.config import ClassifierConfig, ModelStoreConfig
from edge.metadata import file_sha256
from edge.modelstore import CURRENT, PREVIOUS, install, open_current, open_running_model, target
from edge.signing import generate_key, load_private_key, trusted_keys


def make_classifier(path: Path) -> TFLiteEmotionClassifier:
    return TFLiteEmotionClassifier(path)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, tflite_model, tflite_model_float) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bundles")
    pack(tflite_model, folder / "a.bundle")
    pack(tflite_model_float, folder / "b.bundle")
    return {"a": folder / "a.bundle", "b": folder / "b.bundle"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: generate_key(folder / name)[0] for name in ("release", "stranger")}


def copy(path: Path, tmp_path: Path, name: str = "copy.bundle") -> Path:
    return Path(shutil.copy(path, tmp_path / name))


def sign_with(path: Path, key: Path) -> Path:
    write_bundle(path, signed(read_bundle(path), load_private_key(key)))
    return path


@pytest.fixture
def store(tmp_path, bundles) -> Path:
    """A store running bundle a."""
    install(bundles["a"], tmp_path / "store", {}, make_classifier)
    return tmp_path / "store"


def running_sha(store: Path) -> str:
    return open_current(store, {}, make_classifier).sha256


def flip_byte(bundle: Path, member: str) -> None:
    """Change one byte in the middle of a member's data, in place."""
    with tarfile.open(bundle) as tar:
        info = tar.getmember(member)
    with open(bundle, "r+b") as handle:
        handle.seek(info.offset_data + info.size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0x01]))


def test_a_bundle_installs_and_runs_its_model(store, tflite_model):
    assert running_sha(store) == file_sha256(tflite_model)


@pytest.mark.parametrize("member", [MODEL, SIDECAR, GOLDEN])
def test_one_changed_byte_is_refused_and_the_running_model_stays(store, bundles, tmp_path, tflite_model, member):
    bundle = copy(bundles["b"], tmp_path)
    flip_byte(bundle, member)
    with pytest.raises(TamperedBundleError, match=member):
        install(bundle, store, {}, make_classifier)
    assert running_sha(store) == file_sha256(tflite_model) and target(store, PREVIOUS) is None


def test_untrusted_signer_unsigned_and_bad_signature_are_refused(store, bundles, keys, tmp_path, tflite_model):
    trusted = trusted_keys([keys["release"].with_name("release.pub")])
    stranger = sign_with(copy(bundles["b"], tmp_path, "s.bundle"), keys["stranger"])
    with pytest.raises(UntrustedKeyError, match="not among the trusted keys"):
        install(stranger, store, trusted, make_classifier)
    with pytest.raises(UnsignedBundleError, match="not signed"):
        install(bundles["b"], store, trusted, make_classifier)
    forged = read_bundle(sign_with(copy(bundles["b"], tmp_path, "f.bundle"), keys["release"]))
    looser = forged.manifest_bytes.replace(b'"tolerance": 0.05', b'"tolerance": 1.0')
    write_bundle(tmp_path / "f.bundle", Bundle(forged.source, looser, forged.parts, forged.signature))
    with pytest.raises(BadSignatureError, match="does not match"):
        install(tmp_path / "f.bundle", store, trusted, make_classifier)
    assert running_sha(store) == file_sha256(tflite_model)


def test_a_bundle_signed_by_a_trusted_key_installs(store, bundles, keys, tmp_path, tflite_model_float):
    bundle = sign_with(copy(bundles["b"], tmp_path), keys["release"])
    install(bundle, store, trusted_keys([keys["release"].with_name("release.pub")]), make_classifier)
    assert running_sha(store) == file_sha256(tflite_model_float) and target(store, PREVIOUS) is not None


def test_a_model_that_misses_its_golden_faces_is_refused(store, tflite_model_float, tmp_path, tflite_model):
    for path in tflite_model_float.parent.glob(tflite_model_float.stem + ".*"):
        shutil.copy(path, tmp_path)
    golden = np.load(golden_path(tflite_model_float))
    write_golden(golden_path(tmp_path / tflite_model_float.name), golden["faces"], np.roll(golden["probabilities"], 1, 0))
    bundle = pack(tmp_path / tflite_model_float.name, tmp_path / "wrong.bundle")
    with pytest.raises(GoldenMismatchError, match="golden faces"):
        install(tmp_path / "wrong.bundle", store, {}, make_classifier)
    assert bundle.model_sha256 == file_sha256(tflite_model_float)
    assert running_sha(store) == file_sha256(tflite_model) and len(list(store.glob(".staging-*"))) == 0


KILLED_INSTALL = """
import os, signal, sys
from pathlib import Path
from edge.bundle import read_bundle
from edge.modelstore import stage
stage(read_bundle(sys.argv[1]), Path(sys.argv[2]))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_an_install_killed_before_its_rename_leaves_the_old_model_running(store, bundles, tflite_model, tflite_model_float):
    killed = subprocess.run([sys.executable, "-c", KILLED_INSTALL, str(bundles["b"]), str(store)])
    assert killed.returncode == -9 and len(list(store.glob(".staging-*"))) == 1
    assert running_sha(store) == file_sha256(tflite_model)
    install(bundles["b"], store, {}, make_classifier)
    assert running_sha(store) == file_sha256(tflite_model_float) and not list(store.glob(".staging-*"))


def test_a_model_that_fails_at_start_rolls_back_and_says_so(store, bundles, tflite_model):
    install(bundles["b"], store, {}, make_classifier)
    (store / target(store, CURRENT) / MODEL).write_bytes(b"not a model")  # e.g. a card going bad
    running = open_running_model(ClassifierConfig(), ModelStoreConfig(path=store))
    assert running.sha256 == file_sha256(tflite_model) and running.classifier.model_id == "tiny_int8"
    assert running.rollback["from"]["model"] == "tiny_float32" and "sha256" in running.rollback["reason"]
    assert open_running_model(ClassifierConfig(), ModelStoreConfig(path=store)).rollback == running.rollback


def test_with_trusted_keys_a_bare_model_file_is_refused(tmp_path, tflite_model, keys):
    store = ModelStoreConfig(path=tmp_path / "none", trusted_keys=[keys["release"].with_name("release.pub")])
    with pytest.raises(UnsignedBundleError, match="bare model file"):
        open_running_model(ClassifierConfig(model=tflite_model), store)


def test_a_rollback_at_start_waits_for_an_install_under_way(store, bundles, tflite_model):
    import fcntl
    import os
    import threading

    install(bundles["b"], store, {}, make_classifier)
    (store / target(store, CURRENT) / MODEL).write_bytes(b"not a model")
    held = os.open(store, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(held, fcntl.LOCK_EX)  # as `fer-edge model install` holds it while it checks and switches
    started = threading.Thread(target=running_sha, args=(store,))
    started.start()
    started.join(1.0)
    try:
        assert started.is_alive() and not (store / "rollback.json").exists()  # nothing changed under the install
    finally:
        os.close(held)
    started.join(30)
    assert not started.is_alive() and (store / "rollback.json").exists()
