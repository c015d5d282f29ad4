"""fer-train: train the CNN-BiLSTM (or the CNN / BiLSTM baselines) on FER2013."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from edge.argparsing import Parser
from edge.errors import FerEdgeError, run_guarded
from edge.logs import configure_logging
from training.data import FER2013_VARIABLE
from training.flags import HelpWithDefaults, add_flags, from_args
from training.model import ModelOptions
from training.options import TrainOptions

PROG = "fer-train"


def build_parser() -> argparse.ArgumentParser:
    """Every flag comes from a field of TrainOptions or ModelOptions, its docstring the help (training/flags.py)."""
    parser = Parser(
        prog=PROG,
        description="Train a facial-expression model on FER2013. Training rows train, PublicTest selects the best "
        "epoch (validation), PrivateTest is reported. Everything lands in RUN_DIR.",
        formatter_class=HelpWithDefaults,
        allow_abbrev=False,
    )
    add_flags(parser.add_argument_group("data and run"), TrainOptions, defaults={"data": os.environ.get(FER2013_VARIABLE)})
    add_flags(parser.add_argument_group("model"), ModelOptions)
    return parser


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    return from_args(TrainOptions, args, model=from_args(ModelOptions, args))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging("INFO")
    return run_guarded(PROG, lambda: train_and_summarize(args), (FerEdgeError, ValueError, OSError))


def train_and_summarize(args: argparse.Namespace) -> int:
    from training.train import train

    options = options_from_args(args)
    result = train(options)
    if "paused_after_epoch" in result:
        print(f"{options.run_dir}: paused after epoch {result['paused_after_epoch']} of {result['epochs']}; "
              f"continue with the same flags and --resume {result['resume']} (meanwhile fer-eval, fer-bench and "
              f"fer-convert read the best epoch so far, {options.run_dir / 'model.keras'})")
        return 0
    for split, scores in result["metrics"].items():
        print(f"{options.run_dir}: {split} accuracy {scores['accuracy']:.4f}, macro F1 {scores['macro_f1']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
