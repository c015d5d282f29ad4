"""fer-eval: the per-class report and confusion matrices of any saved model on a FER2013 split."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from edge.errors import FerEdgeError
from training.cli import configure_logging
from training.data import USAGES, load_fer2013

PROG = "fer-eval"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Evaluate a saved model (run directory, .keras, or .tflite through the edge classifier) "
        "on one FER2013 split: accuracy, per-class precision/recall/F1, confusion matrices (PNG, raw and normalized).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model", type=Path, help="run directory, model.keras, or a .tflite with its .json sidecar")
    parser.add_argument("--data", type=Path, required=True, help="fer2013.csv(.gz) or image-folder tree")
    parser.add_argument("--split", choices=USAGES, default="PrivateTest", help="which Usage rows to evaluate on")
    parser.add_argument("--out", type=Path, help="report directory (default: <model stem>_eval next to the model)")
    parser.add_argument("--skip-bad-rows", action="store_true", help="skip malformed CSV rows instead of stopping")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        from training.evaluate import predict_file
        from training.report import write_evaluation

        images, labels = load_fer2013(args.data, args.skip_bad_rows).split(args.split)
        out = args.out or args.model.parent / f"{args.model.stem}_eval"
        metrics = write_evaluation(out, labels, predict_file(args.model, images), args.split)
    except (FerEdgeError, OSError) as exc:
        if os.environ.get("DEBUG") == "1":
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    print((out / f"{args.split.lower()}_report.txt").read_text())
    print(f"accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}; report in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
