"""Entry points of the training-side commands, safe on an edge-only install (`pip install 'fer-edge[edge]'`).

fer-train, fer-eval, fer-convert, fer-bench and fer-soup need the `train` extra (TensorFlow, scikit-learn, matplotlib),
which a Pi does not have. Each entry point here checks that those are installed before importing the command,
so that their absence ends in one line naming the extra, not a ModuleNotFoundError traceback; and it imports
TensorFlow with its C++ start-up banners kept off the terminal (unless fer-convert's or fer-bench's -v/--verbose,
or TF_CPP_MIN_LOG_LEVEL is 0 or 1), since TensorFlow prints them while being imported, before any of our logging
is set up.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from edge.logs import quiet_native_stderr

TRAIN_MODULES = {"tensorflow": "TensorFlow", "sklearn": "scikit-learn", "matplotlib": "matplotlib"}
COMMANDS = {
    "fer-train": "training.cli:main",
    "fer-eval": "training.eval_cli:main",
    "fer-convert": "converter.cli:main",
    "fer-bench": "converter.bench:main",
    "fer-soup": "training.soup:main",
}
NO_WORK = {"-h", "--help", "--version"}  # these print and exit without TensorFlow
# the commands whose -v/--verbose is the switch that shows third-party output (fer-train's --verbose N is Keras'
# progress level, not that switch)
VERBOSE_SWITCH = {"fer-convert", "fer-bench"}


def missing_modules(modules: dict[str, str] = TRAIN_MODULES) -> list[str]:
    """The names of the modules in `modules` that are not installed."""
    return [name for module, name in modules.items() if importlib.util.find_spec(module) is None]


def import_tensorflow_quietly(argv: list[str], prog: str) -> None:
    if NO_WORK.intersection(argv):
        return
    verbose = prog in VERBOSE_SWITCH and {"-v", "--verbose"}.intersection(argv)
    if verbose or os.environ.get("TF_CPP_MIN_LOG_LEVEL") in ("0", "1"):
        import tensorflow  # noqa: F401
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_native_stderr():  # absl's "All log messages before absl::InitializeLog()" and oneDNN lines
        import tensorflow  # noqa: F401


def run(prog: str, argv: list[str] | None = None) -> int:
    """The command `prog` (a key of COMMANDS) on `argv`, or one error line and exit status 1 without its extra."""
    argv = sys.argv[1:] if argv is None else argv
    missing = missing_modules()
    if missing:
        names = " and ".join(", ".join(missing).rsplit(", ", 1))
        print(f"{prog}: error: needs {names}, not installed here: pip install 'fer-edge[train]'", file=sys.stderr)
        return 1
    import_tensorflow_quietly(argv, prog)
    module, function = COMMANDS[prog].split(":")
    return getattr(importlib.import_module(module), function)(argv)


def fer_train() -> int:
    return run("fer-train")


def fer_eval() -> int:
    return run("fer-eval")


def fer_convert() -> int:
    return run("fer-convert")


def fer_bench() -> int:
    return run("fer-bench")


def fer_soup() -> int:
    return run("fer-soup")


if __name__ == "__main__":  # python -m edge.entry fer-train ...
    sys.exit(run(sys.argv[1], sys.argv[2:]))
