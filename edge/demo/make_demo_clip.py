"""Make edge/demo/faces_demo.avi: FER2013 PublicTest faces composited onto 640x480 frames.

    python -m edge.demo.make_demo_clip [--data ../shared/data/fer2013/fer2013-train-val.npz] [--out PATH]
    python -m edge.demo.make_demo_clip --labels-only     # just the true labels beside the clip (no data needed)

Faces are upscaled to 144 px on a plain background (where the Haar cascade finds most of them) and drift
slowly so that frame differencing sees motion; empty stretches between the scenes let events close. Only
faces the agent's own detector finds at its default settings are used, picked in file order, so the clip
is reproducible. The data file is the compact npz described in ../shared/data/fer2013/README.md. Each face's
FER2013 label and box, frame by frame, go to faces_demo.labels.json beside the clip (edge/demo/truth.py).
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import zipfile
from pathlib import Path

import cv2
import numpy as np

from edge.config import DetectorConfig
from edge.demo import CLIP, labels_path
from edge.detector import HaarFaceDetector
from edge.labels import EMOTIONS

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "fer2013" / "fer2013-train-val.npz"
SIZE = (640, 480)
FPS = 10
FACE = 144
BACKGROUND = 170
PUBLIC_TEST = 1
# (seconds, emotions shown); an empty tuple is an empty stretch
SCENES = [
    (1.0, ()),
    (2.0, ("happy", "surprise")),
    (2.0, ()),
    (2.0, ("angry", "sad", "neutral")),
    (2.0, ()),
    (2.0, ("fear",)),
    (1.5, ()),
]


def load_public_test(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(faces uint8 [N, 48, 48], labels [N]) of the PublicTest rows of a fer2013-xz/1 npz."""
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("meta.json"))
        labels = np.load(io.BytesIO(archive.read("labels.npy")))
        usage = np.load(io.BytesIO(archive.read("usage.npy")))
        pixels = lzma.decompress(archive.read("pixels.u8.xz"))
    faces = np.frombuffer(pixels, np.uint8).reshape(meta["shape"])
    keep = usage == PUBLIC_TEST
    return faces[keep], labels[keep]


def blank_frame() -> np.ndarray:
    return np.full((SIZE[1], SIZE[0], 3), BACKGROUND, np.uint8)


def paste(frame: np.ndarray, face: np.ndarray, x: int, y: int) -> None:
    big = cv2.resize(face, (FACE, FACE), interpolation=cv2.INTER_CUBIC)
    frame[y : y + FACE, x : x + FACE] = big[..., None]


def detectable(face: np.ndarray, detector: HaarFaceDetector) -> bool:
    frame = blank_frame()
    paste(frame, face, 200, 150)
    return len(detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))) == 1


def pick_faces(faces: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The first face of each emotion that the default detector finds on its own."""
    detector = HaarFaceDetector(DetectorConfig())
    chosen = {}
    for name in {n for _, names in SCENES for n in names}:
        for index in np.flatnonzero(labels == EMOTIONS.index(name)):
            if detectable(faces[index], detector):
                chosen[name] = faces[index]
                break
    return chosen


def placements() -> list[list[tuple[str, int, int]]]:
    """Per frame, (emotion, x, y) of each face: each scene's faces side by side, swaying 4 px a frame."""
    frames = []
    for seconds, names in SCENES:
        gap = (SIZE[0] - len(names) * FACE) // (len(names) + 1)
        for step in range(round(seconds * FPS)):
            sway = abs(4 * step % 40 - 20) - 10
            frames.append([(name, gap + slot * (gap + FACE) + sway, 150 + sway) for slot, name in enumerate(names)])
    return frames


def render(chosen: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The frames of placements(), with the chosen face of each emotion pasted where it goes."""
    frames = []
    for faces in placements():
        frame = blank_frame()
        for name, x, y in faces:
            paste(frame, chosen[name], x, y)
        frames.append(frame)
    return frames


def write_labels(out: Path) -> None:
    """The true label and box of every face in every frame (all faces of an emotion are the one FER2013 face)."""
    frames = [[{"label": name, "box": [x, y, FACE, FACE]} for name, x, y in faces] for faces in placements()]
    document = {"clip": CLIP.name, "fps": FPS, "source": "FER2013 PublicTest, labels as the dataset gives them",
                "frames": frames}
    out.write_text(json.dumps(document, separators=(",", ":")) + "\n")


def write_clip(frames: list[np.ndarray], out: Path) -> None:
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for frame in frames:
        writer.write(frame)
    writer.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=CLIP)
    parser.add_argument("--labels-only", action="store_true", help="write only the labels file beside --out")
    args = parser.parse_args(argv)
    labels_file = labels_path(args.out)
    write_labels(labels_file)
    if args.labels_only:
        print(f"{labels_file}: {len(placements())} frames")
        return 0
    faces, labels = load_public_test(args.data)
    frames = render(pick_faces(faces, labels))
    write_clip(frames, args.out)
    print(f"{args.out}: {len(frames)} frames at {FPS} fps, {args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
