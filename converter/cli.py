"""fer-convert: a fer-train run (or its .keras) -> a verified float32, float16 or int8 TFLite model + sidecar."""

from __future__ import annotations

import argparse
import logging
import sys

from edge.argparsing import Parser, float_between, int_at_least, one_line_text, path_arg
from edge.logs import VERBOSE_HELP, configure_logging
from edge.errors import ConfigError, FerEdgeError, run_guarded

logger = logging.getLogger("fer-convert")

PROG = "fer-convert"
SPLITS = ("Training", "PublicTest", "PrivateTest")


positive_int = int_at_least(1)
fraction = float_between(0.0, 1.0)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Convert a fer-train model to TFLite (float32 unless --int8 or --float16), write its metadata "
        "sidecar (<output stem>.json), and verify it against the Keras model on a test split "
        "(<output stem>.verify.json). The output appears only when every step, the verification included, succeeded.",
    )
    add = parser.add_argument
    add("model", type=path_arg, help="fer-train run directory (model.keras + metadata.json), or a .keras file in one")
    add("-o", "--output", type=path_arg, required=True, help="TFLite file to write, e.g. models/fer2013_int8.tflite")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--int8", action="store_const", dest="quantization", const="int8",
                      help="full-integer quantization: int8 weights, activations, input and output, "
                      "calibrated on class-balanced training faces")
    kind.add_argument("--float16", action="store_const", dest="quantization", const="float16",
                      help="float16 weights; float32 input and output")
    parser.set_defaults(quantization="float32")
    add("--data", type=path_arg,
        help="FER2013 CSV(.gz) or image folder for calibration and verification (default: the run's source.data)")
    add("--calibration-samples", type=positive_int, default=500, metavar="N",
        help="training faces, class-balanced, that calibrate the int8 ranges (default: %(default)s)")
    add("--verify-split", choices=SPLITS, default="PrivateTest", help="split to verify on (default: %(default)s)")
    add("--verify-samples", type=positive_int, metavar="N", help="verify on N random faces of the split (default: all)")
    add("--min-agreement", type=fraction, default=0.98, metavar="F",
        help="fail (exit 1, no model written) when the top-1 agreement with the Keras model is under F "
        "(default: %(default)s)")
    add("--model-id", type=one_line_text,
        help="model_id in the sidecar, sent with every published result (default: the output's stem)")
    add("--bundle", type=path_arg, metavar="BUNDLE",
        help="also pack model, sidecar, verification report and golden faces (the converter's probabilities on "
        "32 verification faces, <output stem>.golden.npz) into one file for `fer-edge model install`; "
        "sign it with `fer-edge model sign`")
    add("--tolerance", type=fraction, default=0.05, metavar="F",
        help="a bundle's model is refused at install when its probabilities on the golden faces differ from the "
        "converter's by more than F (default: %(default)s)")
    add("--seed", type=int, default=0, help="seed of the calibration and verification samples (default: %(default)s)")
    add("-v", "--verbose", action="store_true", help="log each step; " + VERBOSE_HELP)
    return parser


def run(args) -> int:
    from converter.convert import check_output_name, convert
    from converter.representative import calibration_faces
    from converter.source import data_file, load_source
    from converter.verify import VerificationError, format_table, verification_faces
    from training.data import load_fer2013

    for flag, path in (("-o/--output", args.output), ("--bundle", args.bundle)):
        if path is not None and path.is_dir():
            raise ConfigError(f"{path}: a folder; {flag} names the file to write")
    check_output_name(args.output)
    if args.bundle is not None:
        from edge.bundle import bundle_inputs, refuse_overwriting_a_part

        refuse_overwriting_a_part(args.bundle, bundle_inputs(args.output))
        if not args.bundle.absolute().parent.is_dir():
            raise ConfigError(f"{args.bundle}: its folder does not exist; --bundle names a file in an existing folder")
    source = load_source(args.model)
    for flag, path in (("-o/--output", args.output), ("--bundle", args.bundle)):
        if path is not None and path.exists() and path.samefile(source.path):
            raise ConfigError(f"{path}: is the Keras model being converted; {flag} names a new file")
    data_path = data_file(source, args.data)
    data = load_fer2013(data_path, skip_bad_rows=True)
    faces, labels = verification_faces(data, args.verify_split, args.verify_samples, args.seed)
    calibration = calibration_faces(data, args.calibration_samples, args.seed) if args.quantization == "int8" else None
    try:
        done = convert(
            source, args.output, faces, labels, args.quantization, calibration,
            verify_split=args.verify_split, min_agreement=args.min_agreement,
            model_id=args.model_id, data_path=data_path, progress=True,
        )
    except VerificationError as exc:
        print(format_table(exc.verification))
        raise
    print(format_table(done.verification))
    print(f"wrote {done.model_path}, {done.metadata_path.name}, {done.report_path.name} and {done.golden_path.name}")
    if args.bundle is not None:
        from edge.bundle import pack

        bundle = pack(done.model_path, args.bundle, args.tolerance)
        print(f"wrote {args.bundle} (model {bundle.model_id}, sha256 {bundle.model_sha256})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("INFO" if args.verbose else "WARNING", verbose=args.verbose)
    return run_guarded(PROG, lambda: run(args), (FerEdgeError, OSError))


if __name__ == "__main__":
    sys.exit(main())
