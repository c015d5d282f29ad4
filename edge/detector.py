"""Faces in a frame: OpenCV's Haar cascade or YuNet (cv2.FaceDetectorYN), chosen by `detector.kind`.

Both search the frame shrunk by `working_scale` (detector.downscale, or less where min_face would shrink
below the smallest face the detector can see); when that finds nothing, they search again a small copy of
the frame padded with a border, for a face that fills it (the cascade needs background around a face;
YuNet misses faces cut by the frame's edge; a frame that a face fills has room for no other). The cascade
also looks again when its largest face spans half the frame: its window cannot reach past the frame's
edge, so it draws such faces ~15% too small (measured on ../shared/data/realval). Boxes come back in full-frame pixels, largest first, in the Haar cascade's framing (a square,
brows to chin) whichever detector found them: YuNet's boxes are mapped onto it (`YUNET_TO_HAAR`), so a model
trained on Haar crops sees the same crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.config import DetectorConfig
from edge.errors import ConfigError
from edge.preprocess import to_gray

CASCADE = "haarcascade_frontalface_default.xml"
YUNET_MODEL = Path(__file__).resolve().parent / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"
# YuNet box (w, h) -> Haar box: with s = sqrt(w * h), side = SIDE * s and the centre moved by (DX * s, DY * s);
# medians over the 305 photos of ../shared/data/realval where each finds one face (python -m edge.realval)
YUNET_TO_HAAR = {"side": 1.062, "dx": 0.003, "dy": -0.018}
# the padded second look: the frame shrunk to LARGE_SIDE px on its short side, a border of PAD of that per side;
# it finds faces of at least LARGE_MIN of the short side
LARGE_SIDE, PAD, LARGE_MIN = 96, 0.3, 0.4
HAAR_LOOKS_AGAIN = 0.5  # of the frame's short side
# a look near a tracked face: a square around its expected box, NEAR of its side wider on each side, shrunk to
# NEAR_SIDE px (always the same size: the cascade re-plans its features, ~1 ms, whenever the image size changes),
# for faces from 1/NEAR_SIZES to NEAR_SIZES times its side
NEAR, NEAR_SIDE, NEAR_SIZES = 0.4, 112, 1.4

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Face:
    """One face: its box (x, y, w, h) and, from YuNet, 5 landmarks (eyes, nose tip, mouth corners) as [5, 2]."""

    box: Box
    landmarks: np.ndarray | None = None
    score: float = 1.0


def working_scale(config: DetectorConfig, smallest: int) -> float:
    """How much the frame is shrunk: downscale, unless min_face would end up smaller than `smallest` px."""
    return max(1.0, min(config.downscale, config.min_face / smallest))


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    inter = max(0, w) * max(0, h)
    return inter / float(aw * ah + bw * bh - inter) if inter else 0.0


def merge(faces: list[Face], limit: int) -> list[Face]:
    """Largest first, dropping a face that overlaps a larger one (the two passes can find the same face)."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: f.box[2] * f.box[3], reverse=True):
        if all(iou(face.box, other.box) < 0.3 for other in kept):
            kept.append(face)
    return kept[:limit]


def shrink(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1:
        return image
    size = (max(1, round(image.shape[1] / scale)), max(1, round(image.shape[0] / scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def padded_small(image: np.ndarray) -> tuple[np.ndarray, float, int]:
    """(the frame shrunk to LARGE_SIDE on its short side with a PAD border, its scale, the border in px)."""
    scale = min(image.shape[:2]) / LARGE_SIDE
    small = shrink(image, max(1.0, scale))
    scale = image.shape[0] / small.shape[0]
    border = round(PAD * min(small.shape[:2]))
    return cv2.copyMakeBorder(small, border, border, border, border, cv2.BORDER_REPLICATE), scale, border


def in_frame(box: Box, shape: tuple[int, ...]) -> Box:
    """box clipped to the frame, kept at least 1 px."""
    x, y, w, h = box
    x0, y0 = min(max(0, x), shape[1] - 1), min(max(0, y), shape[0] - 1)
    x1, y1 = min(shape[1], max(x + w, x0 + 1)), min(shape[0], max(y + h, y0 + 1))
    return x0, y0, x1 - x0, y1 - y0


def near_patch(gray: np.ndarray, box: Box) -> tuple[np.ndarray, tuple[float, float], float]:
    """(the square around `box` where to look for it again, NEAR_SIDE px a side, the frame's edge replicated past
    it; the square's top-left corner in the frame; its scale, patch px per frame px)."""
    x, y, w, h = box
    side = (1 + 2 * NEAR) * max(w, h)
    x0, y0 = x + w / 2 - side / 2, y + h / 2 - side / 2
    scale = NEAR_SIDE / side
    left, top = max(0, round(x0)), max(0, round(y0))
    right, bottom = min(gray.shape[1], round(x0 + side)), min(gray.shape[0], round(y0 + side))
    if right - left < 2 or bottom - top < 2:
        return np.zeros((NEAR_SIDE, NEAR_SIDE), np.uint8), (x0, y0), scale
    size = (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale)))
    inner = cv2.resize(gray[top:bottom, left:right], size, interpolation=cv2.INTER_AREA)
    pad_top, pad_left = round((top - y0) * scale), round((left - x0) * scale)
    patch = cv2.copyMakeBorder(inner, pad_top, max(0, NEAR_SIDE - pad_top - size[1]), pad_left,
                               max(0, NEAR_SIDE - pad_left - size[0]), cv2.BORDER_REPLICATE)
    return patch[:NEAR_SIDE, :NEAR_SIDE], (x0, y0), scale


class HaarFaceDetector:
    """find(image) -> [Face] and detect(image) -> [(x, y, w, h)], in the coordinates of `image` (gray or BGR);
    find_near(image, expected boxes) looks for tracked faces only around where they are expected."""

    SMALLEST = 24  # the cascade's window

    def __init__(self, config: DetectorConfig, cascade: str = CASCADE):
        path = Path(cv2.data.haarcascades) / cascade
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ConfigError(f"{path}: cannot load the Haar cascade (is opencv-python 4.x installed?)")
        self.config = config
        self.scale = working_scale(config, self.SMALLEST)

    def find(self, image: np.ndarray) -> list[Face]:
        gray = to_gray(image)
        faces = [Face(box) for box in self._search(shrink(gray, self.scale), self.scale, 0, self.config.min_face)]
        if max((face.box[2] for face in faces), default=gray.shape[0]) >= HAAR_LOOKS_AGAIN * min(gray.shape[:2]):
            padded, scale, border = padded_small(gray)
            large = max(self.config.min_face, LARGE_MIN * min(gray.shape[:2]))
            faces += [Face(in_frame(box, gray.shape)) for box in self._search(padded, scale, border, large)]
        return merge(faces, self.config.max_faces)

    def find_near(self, image: np.ndarray, expected: list[Box]) -> list[Face] | None:
        """Each expected face searched for in a small square around it only, at sizes near its own: a fraction of
        a whole-frame search. None when one of them is not found there, or is so large that the whole-frame
        search treats it specially: the caller then searches the whole frame."""
        gray = to_gray(image)
        faces = []
        for box in expected:
            side = max(box[2], box[3])
            if side >= HAAR_LOOKS_AGAIN * min(gray.shape[:2]):
                return None
            patch, origin, scale = near_patch(gray, box)
            smallest = max(self.SMALLEST, max(self.config.min_face, side / NEAR_SIZES) * scale)
            found = self._cascade_boxes(patch, round(smallest), round(side * NEAR_SIZES * scale))
            if not len(found):
                return None
            boxes = [tuple(int(round(o + v / scale)) for o, v in zip(origin, b[:2])) + tuple(int(round(v / scale)) for v in b[2:])
                     for b in found]
            faces.append(Face(in_frame(max(boxes, key=lambda candidate: iou(candidate, box)), gray.shape)))
        return merge(faces, self.config.max_faces)

    def detect(self, image: np.ndarray) -> list[Box]:
        return [face.box for face in self.find(image)]

    def _search(self, gray: np.ndarray, scale: float, border: int, min_face: float) -> list[Box]:
        side = max(self.SMALLEST, round(min_face / scale))
        if side > min(gray.shape[:2]):
            return []
        found = self._cascade_boxes(gray, side)
        return [tuple(int(round((v - border) * scale)) for v in box[:2]) + tuple(int(round(v * scale)) for v in box[2:])
                for box in found]

    def _cascade_boxes(self, gray: np.ndarray, smallest: int, largest: int = 0):
        """The cascade's boxes in `gray`, faces from `smallest` to `largest` px (0: no upper bound)."""
        return self._cascade.detectMultiScale(
            gray, scaleFactor=self.config.scale_factor, minNeighbors=self.config.min_neighbors,
            minSize=(smallest, smallest), maxSize=(largest, largest),
        )


def yunet_model(config: DetectorConfig) -> Path:
    """The YuNet ONNX file to load; ConfigError naming detector.yunet_model when it is missing or unreadable."""
    path = config.yunet_model or YUNET_MODEL
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ConfigError(f"field 'detector.yunet_model': cannot read {path} ({exc.strerror})") from None
    return path


class YuNetFaceDetector:
    """The same interface as HaarFaceDetector, with landmarks; runs on a BGR image (gray is converted)."""

    SMALLEST = 12  # YuNet finds faces of about 10 px and up

    def __init__(self, config: DetectorConfig):
        path = yunet_model(config)
        try:
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 240), config.score_threshold, 0.3, 50)
        except cv2.error:
            raise ConfigError(f"field 'detector.yunet_model': {path} is not a loadable YuNet ONNX model") from None
        self._size = (320, 240)
        self.config = config
        self.scale = working_scale(config, self.SMALLEST)

    def find(self, image: np.ndarray) -> list[Face]:
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[:, :, :3]
        faces = [face for face in self._search(shrink(bgr, self.scale), self.scale, 0) if self._wanted(face)]
        if not faces:
            padded, scale, border = padded_small(bgr)
            large = LARGE_MIN * min(bgr.shape[:2])
            faces = [face for face in self._search(padded, scale, border) if face.box[2] >= large and self._wanted(face)]
        return merge([Face(in_frame(f.box, bgr.shape), f.landmarks, f.score) for f in faces], self.config.max_faces)

    def find_near(self, image: np.ndarray, expected: list[Box]) -> None:
        """YuNet always searches the whole frame: at a few ms a frame a local look would save little."""
        return None

    def detect(self, image: np.ndarray) -> list[Box]:
        return [face.box for face in self.find(image)]

    def _wanted(self, face: Face) -> bool:
        return face.box[2] >= self.config.min_face

    def _search(self, bgr: np.ndarray, scale: float, border: int) -> list[Face]:
        size = (bgr.shape[1], bgr.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, rows = self._net.detect(bgr)
        return [] if rows is None else [self._face(row, scale, border) for row in rows]

    @staticmethod
    def _face(row: np.ndarray, scale: float, border: int) -> Face:
        x, y, w, h = (float(v) for v in row[:4])
        size = (w * h) ** 0.5
        side = YUNET_TO_HAAR["side"] * size
        cx = x + w / 2 + YUNET_TO_HAAR["dx"] * size
        cy = y + h / 2 + YUNET_TO_HAAR["dy"] * size
        box = ((cx - side / 2 - border) * scale, (cy - side / 2 - border) * scale, side * scale, side * scale)
        landmarks = (row[4:14].reshape(5, 2).astype(np.float32) - border) * scale
        return Face(tuple(int(round(v)) for v in box), landmarks, float(row[14]))


DETECTORS = {"haar": HaarFaceDetector, "yunet": YuNetFaceDetector}


def open_detector(config: DetectorConfig):
    """The detector named by detector.kind."""
    return DETECTORS[config.kind](config)
