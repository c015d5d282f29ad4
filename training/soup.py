"""fer-soup: one model whose weights are a weighted mean of two runs of the same network (a "model soup").

Two stages of one model (a warm restart and the run it started from) lie in the same basin, so the mean of their
weights is a model too, and it can hold what each stage learned: v4 (the previous reference) is half the
FER2013-trained v3 and half its FER+/crop-augmented restart. The result is a complete run directory, evaluated and
reported as fer-train reports its runs (PublicTest chooses flip averaging, PrivateTest is reported).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from edge.argparsing import Parser, path_arg
from edge.errors import FerEdgeError, ModelError, run_guarded
from edge.logs import configure_logging

PROG = "fer-soup"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=path_arg, help="a fer-train run directory (or its model.keras)")
    parser.add_argument("second", type=path_arg, help="a run of the same network (same layers and sizes)")
    parser.add_argument("--share", type=float, default=0.5, help="weight of FIRST in the mean, 0..1 (default: 0.5)")
    parser.add_argument("--run-dir", type=path_arg, required=True, help="run directory to write (refused if it holds a run)")
    parser.add_argument("--data", type=path_arg, help="FER2013 data for the reports (default: SECOND's source.data)")
    parser.add_argument(
        "--align-faces", action=argparse.BooleanOptionalAction, default=None,
        help="record that YuNet faces are turned eyes-level before cropping (framing.align); "
        "default: as SECOND's metadata says",
    )
    return parser


def mean_weights(first, second, share: float) -> list:
    """share * first + (1 - share) * second, layer by layer; ModelError when the networks differ."""
    a, b = first.get_weights(), second.get_weights()
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        raise ModelError("the two models are not the same network (their weights differ in number or shape)")
    return [share * x + (1 - share) * y for x, y in zip(a, b)]


def record_ingredients(run_dir: Path, first: Path, second: Path, share: float) -> dict:
    """Add the two models and the share to the run's metadata (source.soup); returns the metadata."""
    from edge.metadata import file_sha256, read_metadata, write_metadata

    metadata = read_metadata(run_dir)
    ingredients = [{"model": str(p), "sha256": file_sha256(p), "share": w} for p, w in ((first, share), (second, 1 - share))]
    metadata = metadata.model_copy(update={"source": {**metadata.source, "soup": ingredients}})
    write_metadata(run_dir, metadata)
    return metadata.model_dump(mode="json")


def soup(args: argparse.Namespace) -> int:
    from converter.source import data_file, load_source
    from training.data import load_fer2013
    from training.options import TrainOptions
    from training.plots import plot_history, read_history
    from training.train import BEST_MODEL, STAGE_HISTORY, check_run_dir, finish_run

    if not 0.0 <= args.share <= 1.0:
        raise FerEdgeError(f"--share {args.share} is outside 0..1")
    first, second = load_source(args.first), load_source(args.second)
    second.inference_twin()  # ModelError unless its options, which the soup records as its own, build its network
    align = second.metadata.framing.align if args.align_faces is None else args.align_faces
    options = TrainOptions(
        data_file(second, args.data), args.run_dir, model=second.options, align_faces=align
    )
    run_dir = check_run_dir(options, continuable=False)
    data = load_fer2013(options.data)
    model = second.model  # load_source has loaded both
    model.set_weights(mean_weights(first.model, model, args.share))
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(run_dir / BEST_MODEL)
    stages = second.path.parent / STAGE_HISTORY
    if stages.is_file():
        shutil.copy(stages, run_dir / STAGE_HISTORY)
        plot_history(read_history(stages), run_dir / "training_curves.png")
    metadata = finish_run(options, data, model, run_dir, 0.0)
    metadata = record_ingredients(run_dir, first.path, second.path, args.share)
    for split, scores in metadata["metrics"].items():
        print(f"{run_dir}: {split} accuracy {scores['accuracy']:.4f}, macro F1 {scores['macro_f1']:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("INFO")
    return run_guarded(PROG, lambda: soup(args), (FerEdgeError, ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
