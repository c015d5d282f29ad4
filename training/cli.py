"""fer-train: train the CNN-BiLSTM (or the CNN / BiLSTM baselines) on FER2013."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from edge.errors import FerEdgeError, run_guarded
from training.model import ARCHS, ModelOptions
from training.options import TrainOptions

PROG = "fer-train"


def build_parser() -> argparse.ArgumentParser:
    defaults, model = TrainOptions(Path("."), Path(".")), ModelOptions()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train a facial-expression model on FER2013. Training rows train, PublicTest selects the best "
        "epoch (validation), PrivateTest is reported. Everything lands in RUN_DIR.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="Kaggle fer2013.csv or .csv.gz (emotion,pixels,Usage), or an image-folder tree train/<class>/*.png, test/<class>/*.png")
    parser.add_argument("--run-dir", type=Path, required=True, help="output directory (created): model.keras, metadata.json, history.csv, plots, reports")
    parser.add_argument("--skip-bad-rows", action="store_true", help="skip malformed CSV rows and report how many, instead of stopping at the first")
    arch = parser.add_argument_group("model")
    arch.add_argument("--arch", choices=ARCHS, default=model.arch, help="cnn: conv blocks + global pooling; bilstm: BiLSTM over image rows; cnn-bilstm: conv feature map read by a BiLSTM")
    arch.add_argument("--conv-blocks", type=int, default=model.conv_blocks, help="number of conv blocks (Conv2D, BatchNorm, ReLU, MaxPool, Dropout)")
    arch.add_argument("--convs-per-block", type=int, default=model.convs_per_block, help="Conv2D+BatchNorm+ReLU layers per block")
    arch.add_argument("--filters", type=int, default=model.filters, help="filters of the first block; each further block doubles them")
    arch.add_argument("--lstm-units", type=int, default=model.lstm_units, help="units per LSTM direction")
    arch.add_argument("--dense-units", type=int, nargs="*", default=model.dense_units, help="sizes of the dense layers before the softmax (none for zero)")
    arch.add_argument("--conv-dropout", type=float, default=model.conv_dropout, help="dropout after each conv block")
    arch.add_argument("--dense-dropout", type=float, default=model.dense_dropout, help="dropout after the BiLSTM and each dense layer")
    arch.add_argument("--attention", action="store_true", help="attention pooling over the BiLSTM outputs")
    arch.add_argument("--bn-momentum", type=float, default=model.bn_momentum, help="BatchNorm moving-average momentum")
    arch.add_argument("--no-augment", dest="augment", action="store_false", help="turn off flip/shift/rotation/zoom/brightness/contrast augmentation")
    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=int, default=defaults.epochs, help="maximum epochs")
    fit.add_argument("--batch-size", type=int, default=defaults.batch_size, help="faces per step")
    fit.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help="peak learning rate (AdamW)")
    fit.add_argument("--lr-schedule", choices=("cosine", "plateau", "constant"), default=defaults.lr_schedule, help="cosine: one warm-up epoch then cosine decay to 1%% over --epochs; plateau: halve after 3 epochs without a better validation accuracy")
    fit.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help="decoupled weight decay")
    fit.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    fit.add_argument("--patience", type=int, default=defaults.patience, help="early stopping: epochs without a better validation accuracy")
    fit.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    fit.add_argument("--resume", type=Path, help="continue from this checkpoint (RUN_DIR/last.keras)")
    fit.add_argument("--init-from", type=Path, help="start from the weights of this .keras (same model flags) with a fresh optimizer and schedule: a warm restart or fine-tuning")
    fit.add_argument("--max-minutes", type=float, help="stop after the epoch that passes this many minutes")
    fit.add_argument("--flip-average", choices=("auto", "on", "off"), default=defaults.flip_average, help="at inference, average each face's probabilities with its mirror image's; auto turns it on when it raises PublicTest accuracy (recorded in the metadata, followed by fer-convert, fer-eval and the edge)")
    fit.add_argument("--verbose", type=int, choices=(0, 1, 2), default=defaults.verbose, help="0 silent, 1 progress bar, 2 a line per epoch")
    return parser


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    model = ModelOptions(
        arch=args.arch, conv_blocks=args.conv_blocks, convs_per_block=args.convs_per_block, filters=args.filters,
        lstm_units=args.lstm_units, dense_units=list(args.dense_units), conv_dropout=args.conv_dropout,
        dense_dropout=args.dense_dropout, attention=args.attention, bn_momentum=args.bn_momentum, augment=args.augment,
    )
    return TrainOptions(
        data=args.data, run_dir=args.run_dir, model=model, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, lr_schedule=args.lr_schedule, weight_decay=args.weight_decay,
        class_weights=args.class_weights, patience=args.patience, seed=args.seed, resume=args.resume, init_from=args.init_from,
        skip_bad_rows=args.skip_bad_rows, max_minutes=args.max_minutes, verbose=args.verbose,
        flip_average=args.flip_average,
    )


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging()
    return run_guarded(PROG, lambda: train_and_summarize(args), (FerEdgeError, ValueError, OSError))


def train_and_summarize(args: argparse.Namespace) -> int:
    from training.train import train

    options = options_from_args(args)
    for split, scores in train(options)["metrics"].items():
        print(f"{options.run_dir}: {split} accuracy {scores['accuracy']:.4f}, macro F1 {scores['macro_f1']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
