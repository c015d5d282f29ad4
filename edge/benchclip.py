"""Make a benchmark clip with a face in every frame: `python -m edge.benchclip OUT [--photos DIR]`.

Each photo of DIR (e.g. ../shared/data/realval/muxspace; default: the faces of the bundled demo clip) is
shown in turn for `--seconds-each`, scaled so its face is about 100-230 px wide in the 640x480 frame,
drifting and zooming slowly over a generated background with texture (shelves and shading, as a room has).
The clip is written where you say, never into the project: photos from third parties stay out of it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.argparsing import Parser, path_arg
from edge.camera import IMAGE_SUFFIXES
from edge.demo import CLIP

SIZE = (640, 480)


def demo_faces() -> list[np.ndarray]:
    """The faces of the demo clip's three-face scene, each cut out with some background."""
    capture = cv2.VideoCapture(str(CLIP))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 55)
    frame = capture.read()[1]
    capture.release()
    return [frame[120:320, x : x + 200] for x in (30, 220, 420)]


def read_photos(folder: Path | None, limit: int) -> list[np.ndarray]:
    if folder is None:
        return demo_faces()
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    return [image for image in (cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths) if image is not None]


def room(seed: int = 0) -> np.ndarray:
    """A BGR background: shaded wall, a few boxes and edges, sensor noise; no face in it."""
    rng = np.random.default_rng(seed)
    wall = np.linspace(90, 190, SIZE[0], dtype=np.float32)[None, :] * np.linspace(0.8, 1.1, SIZE[1])[:, None]
    frame = np.repeat(wall[..., None], 3, axis=2) * np.float32([1.0, 0.95, 0.9])
    for _ in range(12):
        x, y = int(rng.integers(0, SIZE[0] - 60)), int(rng.integers(0, SIZE[1] - 60))
        w, h = int(rng.integers(30, 200)), int(rng.integers(10, 120))
        cv2.rectangle(frame, (x, y), (x + w, y + h), rng.integers(20, 235, 3).tolist(), -1)
    frame += rng.normal(0, 4, frame.shape).astype(np.float32)
    return np.clip(cv2.GaussianBlur(frame, (0, 0), 1.5), 0, 255).astype(np.uint8)


PHOTO_SIDES = (120, 230)  # px of a photo's longer side: a face that fills most of it is about 100-230 px wide
DEMO_SIDES = (170, 280)  # the demo faces are tight 48x48 FER2013 crops, cut out with background around them


def compose(photo: np.ndarray, t: float, rng_offset: float, background: np.ndarray, sides=PHOTO_SIDES) -> np.ndarray:
    """One frame: the photo at a size and place that change smoothly with t in [0, 1]."""
    background = background.copy()
    side = int(sides[0] + (sides[1] - sides[0]) * np.sin(np.pi * t))
    scale = side / max(photo.shape[:2])
    shown = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = shown.shape[:2]
    x = int((SIZE[0] - w) * (0.5 + 0.45 * np.sin(2 * np.pi * (t + rng_offset))))
    y = int((SIZE[1] - h) * (0.5 + 0.4 * np.cos(2 * np.pi * t)))
    background[y : y + h, x : x + w] = shown
    return background


def make_clip(out: Path, photos: list[np.ndarray], fps: float = 15.0, seconds_each: float = 2.0, sides=PHOTO_SIDES) -> int:
    """Write the clip (MJPG .avi); returns its number of frames."""
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    steps = max(2, round(fps * seconds_each))
    background = room()
    for index, photo in enumerate(photos):
        for step in range(steps):
            writer.write(compose(photo, step / (steps - 1), index * 0.37, background, sides))
    writer.release()
    return steps * len(photos)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m edge.benchclip", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=path_arg, help="the .avi to write (outside the project)")
    parser.add_argument("--photos", type=path_arg, help="folder of photos with one face each (default: the demo faces)")
    parser.add_argument("--count", type=int, default=20, help="photos used, in name order (default 20)")
    parser.add_argument("--seconds-each", type=float, default=2.0, help="seconds each photo is shown (default 2)")
    parser.add_argument("--fps", type=float, default=15.0, help="frame rate of the clip (default 15)")
    args = parser.parse_args(argv)
    sides = DEMO_SIDES if args.photos is None else PHOTO_SIDES
    frames = make_clip(args.out, read_photos(args.photos, args.count), args.fps, args.seconds_each, sides)
    print(f"{args.out}: {frames} frames at {args.fps:g} fps, {SIZE[0]}x{SIZE[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
