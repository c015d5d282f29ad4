"""fer-eval: the per-class report and confusion matrices of any saved model on a FER2013 split."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from edge.argparsing import Parser, float_between, path_arg
from edge.cli import FLIP_AVERAGE
from edge.errors import DataError, run_guarded
from edge.logs import configure_logging
from training.data import FER2013_VARIABLE, USAGES, load_fer2013

PROG = "fer-eval"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Evaluate a saved model (run directory, .keras, or .tflite through the edge classifier) "
        "on one FER2013 split (--data) or on your own labelled photos (--photos): accuracy, per-class "
        "precision/recall/F1, confusion matrices (PNG, raw and normalized).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model", type=path_arg, help="run directory, model.keras, or a .tflite with its .json sidecar")
    parser.add_argument("--data", type=path_arg, help="fer2013.csv(.gz) or image-folder tree (default: $FER2013)")
    parser.add_argument("--photos", type=path_arg, help="instead of FER2013: a folder of your own photos, labelled by a labels.csv (path,label) or one sub-folder per class (photos in folders below it count too, hidden folders do not); each photo goes through the edge agent's own detector, crop and classifier, and the largest face found is scored (a photo without a face counts as wrong)")
    parser.add_argument("--config", type=path_arg, help="with --photos: the agent's edge.toml, whose [detector] settings are used (default: the agent's defaults; FER_EDGE_DETECTOR_* variables apply as for the agent)")
    parser.add_argument("--split", choices=USAGES, default="PrivateTest", help="which Usage rows to evaluate on")
    parser.add_argument("--out", type=path_arg, help="report directory (default: runs/eval/<model name>/ under the current folder)")
    parser.add_argument("--haar", action="store_true", help="also score the faces as the edge sees them: upscaled onto a canvas, found by the edge's Haar detector and re-cropped (faces Haar misses are counted and left out)")
    parser.add_argument("--margin", type=float_between(0.0, 0.5, " (as detector.margin)"), default=0.0, help="with --haar: grow each Haar box by this fraction per side before cropping (the edge's detector.margin)")
    parser.add_argument("--flip-average", choices=tuple(FLIP_AVERAGE), default="model", help="average each face's probabilities with its mirror image's: as the model's metadata says, or forced on/off")
    parser.add_argument("--skip-bad-rows", action="store_true", help="skip malformed CSV rows instead of stopping")
    return parser


def haar_comparison(model: Path, images, labels, split: str, margin: float, out: Path, flip_average=None) -> str:
    """Score the Haar re-crops of the faces against the same faces as FER2013 framed them."""
    import json

    from training.evaluate import predict_file
    from training.haar_recrop import haar_recrop
    from training.report import evaluation_metrics, write_evaluation

    crops, found = haar_recrop(images, margin)
    if not found.any():
        raise DataError(f"the Haar detector found none of the {len(labels)} {split} faces")
    original = evaluation_metrics(labels[found], predict_file(model, images[found], flip_average))
    recropped = write_evaluation(out, labels[found], predict_file(model, crops, flip_average), f"{split}-haar")
    summary = {
        "split": split, "margin": margin, "faces": int(len(labels)), "found_by_haar": int(found.sum()),
        "accuracy_fer2013_crop": original["accuracy"], "accuracy_haar_crop": recropped["accuracy"],
        "macro_f1_fer2013_crop": original["macro_f1"], "macro_f1_haar_crop": recropped["macro_f1"],
    }
    (out / f"{split.lower()}-haar_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return (
        f"Haar re-crop (margin {margin}): found {found.sum()} of {len(labels)} faces; on those, accuracy "
        f"{original['accuracy']:.4f} with FER2013's crop, {recropped['accuracy']:.4f} with the edge's Haar crop"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("INFO")
    return run_guarded(PROG, lambda: evaluate(args))


def default_out(model: Path) -> Path:
    """runs/eval/<name>: beside the user's runs, never inside the (tracked) folder the model came from."""
    name = model.resolve().name if model.is_dir() else model.stem
    return Path("runs") / "eval" / name


def evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import predict_file
    from training.report import write_evaluation

    out = args.out or default_out(args.model)
    flip_average = FLIP_AVERAGE[args.flip_average]
    ignored = [flag for flag, given in (("--data", args.data), ("--haar", args.haar), ("--margin", args.margin),
                                        ("--skip-bad-rows", args.skip_bad_rows)) if given]
    if args.photos and ignored:  # FER2013 settings: the photos go through the agent's detector ([detector], --config)
        raise DataError(f"{', '.join(ignored)}: for FER2013 splits, not --photos (whose faces the agent's detector "
                        "finds: set it with --config)")
    if args.config and not args.photos:
        raise DataError("--config: sets the detector for --photos; FER2013 splits are scored on their own crops")
    if args.margin and not args.haar:
        raise DataError("--margin: grows the boxes of --haar; give --haar too")
    if args.photos:
        print(evaluate_photos(args.model, args.photos, args.config, out, flip_average))
        return 0
    data = args.data or data_from_environment()
    images, labels = load_fer2013(data, args.skip_bad_rows).split(args.split)
    metrics = write_evaluation(out, labels, predict_file(args.model, images, flip_average), args.split)
    if args.haar:
        print(haar_comparison(args.model, images, labels, args.split, args.margin, out, flip_average))
    print((out / f"{args.split.lower()}_report.txt").read_text())
    print(f"accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}; report in {out}")
    return 0


def data_from_environment() -> Path:
    value = os.environ.get(FER2013_VARIABLE)
    if not value:
        raise DataError(f"no data: pass --data fer2013.csv.gz or set {FER2013_VARIABLE} (see README: Data)")
    return Path(value)


def evaluate_photos(model: Path, folder: Path, config: Path | None, out: Path, flip_average) -> str:
    """Score the photos of `folder` through the agent's detector, crop and classifier; the report's text."""
    import json

    from edge.config import load_config
    from training.evaluate import model_framing, predict_file
    from training.photos import agent_faces, read_labelled_photos
    from training.report import write_evaluation

    photos = read_labelled_photos(folder)
    agent_config = load_config(config)
    faces, found = agent_faces(photos.paths, agent_config, model_framing(model))
    if not found.any():
        raise DataError(f"{folder}: the detector found no face in any of the {len(photos.paths)} photos")
    probabilities = predict_file(model, faces, flip_average)
    metrics = write_evaluation(out, photos.labels[found], probabilities, "photos")
    correct = int((probabilities.argmax(1) == photos.labels[found]).sum())
    summary = {
        "photos": len(photos.paths), "faces_found": int(found.sum()),
        "accuracy_all_photos": correct / len(photos.paths), "accuracy_found_faces": metrics["accuracy"],
        "macro_f1_found_faces": metrics["macro_f1"], "detector": agent_config.detector.model_dump(mode="json"),
        "missed": [str(p) for p, f in zip(photos.paths, found) if not f],
    }
    (out / "photos_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return (
        (out / "photos_report.txt").read_text()
        + f"\nfaces found in {found.sum()} of {len(photos.paths)} photos; accuracy {summary['accuracy_all_photos']:.4f} "
        f"over all photos (a photo without a face counts as wrong), {metrics['accuracy']:.4f} on the faces found, "
        f"macro F1 {metrics['macro_f1']:.4f}; report in {out}"
    )


if __name__ == "__main__":
    sys.exit(main())
