"""One fixture per real part the tests use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mosquitto import Broker  # noqa: E402

DEFAULT_FER2013 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"
FER2013 = Path(os.environ.get("FER2013") or DEFAULT_FER2013)  # your copy: FER2013=/path/to/fer2013.csv pytest


@pytest.fixture
def broker(tmp_path):
    """A real Mosquitto on a free loopback port, stopped after the test."""
    instance = Broker(tmp_path).start()
    yield instance
    instance.stop()


@pytest.fixture
def silent_camera():
    """The URL of a network camera whose server accepts connections and never answers (a real loopback socket)."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    held = []
    threading.Thread(target=lambda: held.extend(server.accept() for _ in iter(int, 1)), daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/video.mjpg"
    server.close()


@pytest.fixture
def small_disk(tmp_path):
    """A function size -> a folder on a tmpfs of that size (e.g. "512k"), unmounted after the test; skipped
    where mounting is not allowed (not root, or in a container without the capability)."""
    mounted = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a {size} tmpfs: {done.stderr.decode().strip() or 'not allowed'}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def shared_fer2013() -> Path:
    """The full FER2013 ($FER2013, default ../shared/...); the test is skipped where it is absent (a fresh clone)."""
    if not FER2013.exists():
        pytest.skip(f"{FER2013} is absent (set FER2013 to your fer2013.csv or .csv.gz)")
    return FER2013


# --- a tiny trained model and its int8 conversion (converter/) -------------------------------------------

TINY_OPTIONS = dict(
    arch="cnn-bilstm", conv_blocks=1, filters=8, lstm_units=8, dense_units=[16],
    conv_dropout=0.0, dense_dropout=0.0, augment=False,
)
TINY_SPLITS = {"Training": 24, "PublicTest": 6, "PrivateTest": 8}  # faces per class


def tiny_faces(per_class: int, seed: int):
    """uint8 faces [7 * per_class, 48, 48] and labels: class c is a bright band on rows 6c..6c+5, plus noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(7), per_class)
    faces = rng.integers(0, 90, (len(labels), 48, 48)).astype(np.uint8)
    for face, label in zip(faces, labels):
        face[6 * label : 6 * label + 6] += 160
    return faces, labels


def write_fer_csv(path: Path, splits: dict) -> Path:
    """A Kaggle-format FER2013 CSV (emotion,pixels,Usage) from {usage: (faces, labels)}."""
    lines = ["emotion,pixels,Usage"]
    for usage, (faces, labels) in splits.items():
        lines += [f"{label},{' '.join(map(str, face.ravel()))},{usage}" for face, label in zip(faces, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_fer_splits() -> dict:
    """{usage: (faces, labels)} of generated FER2013-like data, a few faces per class per split."""
    return {usage: tiny_faces(n, seed) for seed, (usage, n) in enumerate(TINY_SPLITS.items())}


@pytest.fixture(scope="session")
def tiny_fer_csv(tmp_path_factory, tiny_fer_splits) -> Path:
    """tiny_fer_splits as a Kaggle-format CSV."""
    return write_fer_csv(tmp_path_factory.mktemp("data") / "fer2013.csv", tiny_fer_splits)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_fer_splits, tiny_fer_csv) -> Path:
    """A fer-train-like run directory (model.keras + metadata.json) of a tiny CNN-BiLSTM trained for seconds."""
    import keras

    from edge.preprocess import to_model_input
    from training.model import ModelOptions, build_model

    keras.utils.set_random_seed(0)
    options = ModelOptions(**TINY_OPTIONS)
    model = build_model(options)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    faces, labels = tiny_fer_splits["Training"]
    model.fit(to_model_input(faces), labels, batch_size=28, epochs=30, verbose=0)
    return save_run(tmp_path_factory.mktemp("run"), model, options, tiny_fer_csv)


def save_run(run: Path, model, options, data: Path | None = None) -> Path:
    """Write model.keras and metadata.json (with options and source.data) the way fer-train lays out a run."""
    from edge.metadata import ModelMetadata, write_metadata

    model.save(run / "model.keras")
    metadata = ModelMetadata(model_id=f"tiny_{model.name}", arch=options.arch, options=options.to_dict(),
                             source={"data": None if data is None else str(data)})
    write_metadata(run, metadata)
    return run


@pytest.fixture(scope="session")
def make_run(tmp_path_factory, tiny_fer_csv):
    """A function (model, options) -> run directory, for models a test builds itself (untrained, other archs)."""
    return lambda model, options: save_run(tmp_path_factory.mktemp("run"), model, options, tiny_fer_csv)


@pytest.fixture(scope="session")
def tflite_model(tmp_path_factory, tiny_run, tiny_fer_splits) -> Path:
    """An int8 .tflite (int8 input and output) with its sidecar JSON, converted from tiny_run by fer-convert's API."""
    from converter.convert import convert

    faces, labels = tiny_fer_splits["PrivateTest"]
    output = tmp_path_factory.mktemp("models") / "tiny_int8.tflite"
    convert(tiny_run, output, faces, labels, "int8", tiny_fer_splits["Training"][0], min_agreement=0.0)
    return output


@pytest.fixture(scope="session")
def tflite_model_float(tmp_path_factory, tiny_run, tiny_fer_splits) -> Path:
    """A float32 .tflite of the same tiny run: a second, different model file (for installs and rollbacks)."""
    from converter.convert import convert

    faces, labels = tiny_fer_splits["PrivateTest"]
    output = tmp_path_factory.mktemp("models") / "tiny_float32.tflite"
    convert(tiny_run, output, faces, labels, "float32", min_agreement=0.0)
    return output


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL for the session (Debian's binaries, temporary data directory); skipped where it can't run."""
    from postgres import LocalPostgres, PostgresUnavailable

    try:
        server = LocalPostgres().start()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """postgres_server's URL, with an empty messages table."""
    psycopg = pytest.importorskip("psycopg")

    with psycopg.connect(postgres_server.url, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS messages")
    return postgres_server.url
