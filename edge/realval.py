"""Score detectors and framings on labelled photos through the agent's own path: `python -m edge.realval DIR`.

DIR holds `labels.csv` (`path,label,...`, paths relative to DIR) and the photos, as ../shared/data/realval.
Each photo is one frame: the configured detector, the largest face, the framing, the classifier. Prints,
per detector and framing, faces found, accuracy and macro F1; `--boxes` also fits the YuNet-to-Haar box
relation on photos where both detectors find one face (edge/detector.py's YUNET_TO_HAAR).
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from edge.argparsing import Parser
from edge.classifier import TFLiteEmotionClassifier
from edge.config import DetectorConfig
from edge.detector import YUNET_TO_HAAR, HaarFaceDetector, YuNetFaceDetector, open_detector
from edge.framing import Framing, frame_face
from edge.modelfile import find_model


def read_labels(folder: Path) -> list[tuple[Path, str]]:
    with open(folder / "labels.csv", newline="") as handle:
        return [(folder / row["path"], row["label"]) for row in csv.DictReader(handle)]


def macro_f1(truth: list[str], predicted: list[str], labels: list[str]) -> float:
    scores = []
    for label in labels:
        tp = sum(t == p == label for t, p in zip(truth, predicted))
        fp = sum(p == label != t for t, p in zip(truth, predicted))
        fn = sum(t == label != p for t, p in zip(truth, predicted))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def score(photos, detector, framing: Framing, classifier: TFLiteEmotionClassifier) -> dict:
    """Faces found, accuracy and macro F1 over all photos (a photo without a face counts as wrong)."""
    truth, predicted, found = [], [], 0
    for image, label in photos:
        faces = detector.find(image)
        truth.append(label)
        if not faces:
            predicted.append(None)
            continue
        found += 1
        face = frame_face(image, faces[0].box, framing, faces[0].landmarks)
        predicted.append(classifier.classify(face[None])[0].label)
    accuracy = float(np.mean([t == p for t, p in zip(truth, predicted)]))
    return {"found": found, "photos": len(photos), "accuracy": accuracy, "macro_f1": macro_f1(truth, predicted, classifier.labels)}


def box_relation(photos) -> dict[str, float]:
    """Medians, over photos where each detector finds one face, of the Haar box in YuNet box units."""
    haar = HaarFaceDetector(DetectorConfig(downscale=1.0))
    yunet = YuNetFaceDetector(DetectorConfig(kind="yunet", downscale=1.0))
    saved = dict(YUNET_TO_HAAR)
    YUNET_TO_HAAR.update(side=1.0, dx=0.0, dy=0.0)  # raw YuNet boxes (a square of the same area, same centre)
    sides, dxs, dys = [], [], []
    try:
        for image, _ in photos:
            h, y = haar.detect(image), yunet._search(image, 1.0, 0)
            if len(h) != 1 or len(y) != 1:
                continue
            hx, hy, hw, _ = h[0]
            yx, yy, yw, _ = y[0].box
            sides.append(hw / yw)
            dxs.append((hx + hw / 2 - yx - yw / 2) / yw)
            dys.append((hy + hw / 2 - yy - yw / 2) / yw)
    finally:
        YUNET_TO_HAAR.update(saved)
    return {"pairs": len(sides), "side": float(np.median(sides)), "dx": float(np.median(dxs)), "dy": float(np.median(dys))}


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m edge.realval", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder with labels.csv and the photos it names")
    parser.add_argument("--model", type=Path, help="TFLite model (default: the shipped int8 model)")
    parser.add_argument("--detector", choices=("haar", "yunet", "both"), default="both")
    parser.add_argument("--align", choices=("model", "on", "off", "both"), default="both",
                        help="level the eyes (YuNet only): as the model's framing says, on, off, or each")
    parser.add_argument("--margin", type=float, help="box margin per side (default: the model's framing)")
    parser.add_argument("--boxes", action="store_true", help="also fit the YuNet-to-Haar box relation")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    photos = [(cv2.imread(str(path), cv2.IMREAD_COLOR), label) for path, label in read_labels(args.folder)]
    classifier = TFLiteEmotionClassifier(find_model(args.model))
    base = classifier.metadata.framing
    if args.margin is not None:
        base = Framing(args.margin, base.align)
    if args.boxes:
        print("YuNet box -> Haar box:", box_relation(photos))
    aligns = {"model": [base.align], "on": [True], "off": [False], "both": [False, True]}[args.align]
    print(f"{'detector':<8} {'align':<6} {'margin':>6} {'found':>9} {'accuracy':>9} {'macro F1':>9}")
    for kind in ("haar", "yunet") if args.detector == "both" else (args.detector,):
        detector = open_detector(DetectorConfig(kind=kind))
        for align in aligns if kind == "yunet" else [False]:
            result = score(photos, detector, Framing(base.margin, align), classifier)
            print(f"{kind:<8} {str(align):<6} {base.margin:>6.2f} {result['found']:>4}/{result['photos']:<4} "
                  f"{result['accuracy']:>9.3f} {result['macro_f1']:>9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
