"""fer-bench: size, parameters, MACs and per-face latency of the float32 and int8 TFLite models, in one run.

Latency is the median of many single-face invokes after a warm-up, at each thread count; the int8/float32
ratios come from the same run on the same machine, so they hold where absolute numbers do not.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge.argparsing import Parser, int_at_least, path_arg
from edge.logs import VERBOSE_HELP, configure_logging, quiet_native_stderr
from edge.errors import FerEdgeError, ModelError, run_guarded

logger = logging.getLogger("fer-bench")

PROG = "fer-bench"
KINDS = ("float32", "int8")


@dataclass
class Measurement:
    """One TFLite model's numbers."""

    kind: str
    size_bytes: int
    latency_ms: dict[int, float]


def median_latency_ms(model: bytes, threads: int, runs: int, warmup: int, runtime: str | None = None) -> float:
    """Median wall time of one single-face invoke, in milliseconds."""
    from edge.classifier import quantize
    from edge.preprocess import to_model_input
    from edge.runtime import interpreter_class

    _, interpreter_type = interpreter_class(runtime)
    with quiet_native_stderr():
        interpreter = interpreter_type(model_content=model, num_threads=threads)
        interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    face = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    interpreter.set_tensor(detail["index"], quantize(to_model_input(face), detail))
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        interpreter.invoke()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def model_bytes(kind: str, given: Path | None, twin, calibration) -> bytes:
    """The bytes of an already converted file, or of a fresh in-memory conversion."""
    from converter.quantize import to_tflite

    if given is not None:
        if given.is_dir():
            raise ModelError(f"{given}: a folder, not a TFLite model file")
        if not given.is_file():
            raise ModelError(f"{given}: no such file")
        content = given.read_bytes()
        if not content:
            raise ModelError(f"{given}: an empty file, not a TFLite model")
        takes = input_dtype(content)
        if takes is not None and takes != ("int8" if kind == "int8" else "float32"):
            raise ModelError(f"{given}: its input is {takes}, so it is no {kind} model; give it to the other flag "
                             "(--int8 takes fer-convert --int8's output, --float32 a float one)")
        return content
    return to_tflite(twin, kind, calibration() if kind == "int8" else None)


def input_dtype(content: bytes) -> str | None:
    """The input tensor's dtype of a TFLite model, or None for bytes the interpreter cannot read (named later)."""
    from edge.runtime import interpreter_class

    try:
        detail = interpreter_class()[1](model_content=content).get_input_details()[0]
    except (ValueError, RuntimeError):
        return None
    return np.dtype(detail["dtype"]).name


def format_table(name: str, params: int, macs: int, results: dict[str, Measurement], runs: int) -> str:
    """float32 and int8 side by side, with the int8/float32 ratio of each row."""
    f32, i8 = results["float32"], results["int8"]
    rows = [("file size (MB)", f32.size_bytes / 1e6, i8.size_bytes / 1e6)]
    rows += [(f"latency {n} thread(s) ms", f32.latency_ms[n], i8.latency_ms[n]) for n in f32.latency_ms]
    lines = [
        f"{name}: {params:,} parameters, {macs / 1e6:.1f} M MACs per face; median of {runs} single-face invokes",
        f"  {'':<24} {'float32':>10} {'int8':>10} {'int8/float32':>13}",
    ]
    lines += [f"  {label:<24} {a:>10.3f} {b:>10.3f} {b / a:>13.2f}" for label, a, b in rows]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("model", type=path_arg, help="fer-train run directory, or a .keras file in one")
    add("--float32", type=path_arg, metavar="TFLITE", help="an already converted float32 model (default: convert now)")
    add("--int8", type=path_arg, metavar="TFLITE", help="an already converted int8 model (default: convert now)")
    add("--data", type=path_arg, help="calibration data when converting int8 now (default: the run's source.data)")
    add("--calibration-samples", type=int_at_least(1), default=200, metavar="N",
        help="calibration faces (default: %(default)s)")
    add("--threads", type=int_at_least(1), nargs="+", default=[1, 2], metavar="N",
        help="thread counts to time (default: 1 2)")
    add("--runs", type=int_at_least(1), default=300,
        help="timed invokes per model and thread count (default: %(default)s)")
    add("--warmup", type=int_at_least(0), default=30, help="untimed invokes before them (default: %(default)s)")
    add("--runtime", help="ai-edge-litert, tflite-runtime or tensorflow (default: the first that imports)")
    add("--json", type=json_file, metavar="FILE", help="also write the numbers to FILE as JSON (checked before the "
        "benchmark runs; its folder is made if missing)")
    add("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    return parser


def json_file(spec: str) -> Path:
    path = Path(spec)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{spec} is a folder; name the JSON file to write")
    return path


def run(args) -> int:
    from converter.macs import count_macs
    from converter.representative import calibration_faces
    from converter.source import data_file, load_source
    from training.data import load_fer2013

    source = load_source(args.model)
    twin = source.inference_twin()

    def calibration():
        data = load_fer2013(data_file(source, args.data), skip_bad_rows=True)
        return calibration_faces(data, args.calibration_samples)

    params, macs = twin.count_params(), count_macs(twin)
    results = {}
    for kind in KINDS:
        content = model_bytes(kind, getattr(args, kind), twin, calibration)
        try:
            latency = {n: median_latency_ms(content, n, args.runs, args.warmup, args.runtime) for n in args.threads}
        except (ValueError, RuntimeError) as exc:  # what the interpreter raises for bytes that are no TFLite model
            raise ModelError(f"{getattr(args, kind) or kind}: not a loadable TFLite model ({exc})") from None
        results[kind] = Measurement(kind, len(content), latency)
    print(format_table(source.metadata.model_id, params, macs, results, args.runs))
    if args.json:
        numbers = {"model": str(source.path), "parameters": params, "macs": macs, "runs": args.runs}
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(numbers | {k: asdict(m) for k, m in results.items()}, indent=2) + "\n")
        except OSError as exc:
            raise ModelError(f"--json {args.json}: cannot write ({exc.strerror}); the table above has the numbers") \
                from None
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("WARNING", verbose=args.verbose)
    return run_guarded(PROG, lambda: run(args), (FerEdgeError, OSError))


if __name__ == "__main__":
    sys.exit(main())
