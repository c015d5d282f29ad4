"""Fit YuNet's boxes onto the Haar cascade's framing on real photos: `python -m edge.realval FOLDER`.

FOLDER holds photos with one face each (e.g. ../shared/data/realval/muxspace). On every photo where each
detector, at full resolution, finds exactly one face, the Haar box is measured in units of the YuNet box
(s = sqrt(w * h)): its side, and how far its centre sits from YuNet's. The medians are edge/detector.py's
YUNET_TO_HAAR. (Accuracy per detector and framing: `fer-eval MODEL --photos FOLDER` with FER_EDGE_DETECTOR_*.)
"""

from __future__ import annotations


import cv2
import numpy as np

from edge.argparsing import Parser, path_arg
from edge.camera import IMAGE_SUFFIXES
from edge.config import DetectorConfig
from edge.detector import HaarFaceDetector, YuNetFaceDetector


def raw_yunet_box(detector: YuNetFaceDetector, image: np.ndarray) -> list[tuple[float, float, float]]:
    """(centre x, centre y, sqrt(w * h)) of each face YuNet finds in the image at full size, unmapped."""
    size = (image.shape[1], image.shape[0])
    detector._net.setInputSize(size)
    detector._size = size
    rows = detector._net.detect(image)[1]
    return [] if rows is None else [(x + w / 2, y + h / 2, (w * h) ** 0.5) for x, y, w, h in rows[:, :4]]


def box_relation(images) -> dict[str, float]:
    """Medians of the Haar box's side and centre offset in YuNet box units, over photos with one face each."""
    haar = HaarFaceDetector(DetectorConfig(downscale=1.0))
    yunet = YuNetFaceDetector(DetectorConfig(kind="yunet", downscale=1.0))
    sides, dxs, dys = [], [], []
    for image in images:
        found, raw = haar.detect(image), raw_yunet_box(yunet, image)
        if len(found) != 1 or len(raw) != 1:
            continue
        (hx, hy, hw, _), (cx, cy, size) = found[0], raw[0]
        sides.append(hw / size)
        dxs.append((hx + hw / 2 - cx) / size)
        dys.append((hy + hw / 2 - cy) / size)
    return {"pairs": len(sides), "side": float(np.median(sides)), "dx": float(np.median(dxs)), "dy": float(np.median(dys))}


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m edge.realval", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=path_arg, help="folder of photos with one face each")
    args = parser.parse_args(argv)
    paths = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    images = (image for image in (cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths) if image is not None)
    fit = box_relation(images)
    print(f"{fit['pairs']} photos with one face for each detector; Haar box in YuNet box units: "
          f"side {fit['side']:.3f}, centre dx {fit['dx']:+.3f}, dy {fit['dy']:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
