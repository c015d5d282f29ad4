"""fer-edge: run the edge agent, check its config, try it with the demo, benchmark it."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import typing
from pathlib import Path

from edge import __version__
from edge.argparsing import Parser, path_arg
from edge.config import EdgeConfig, env_name, flag_name, iter_settings, load_config, secret_settings
from edge.demo import BROKERS
from edge.errors import ConfigError, FerEdgeError, run_guarded
from edge.logs import VERBOSE_HELP, configure_logging
from edge.model_cli import add_model_verbs, run_model
from edge.outbox import low_disk_warning
from edge.tlsfiles import check_tls_files


def value_name(annotation) -> str:
    """What a flag takes: {a,b} for a choice, else INT, NUMBER, BOOL, PATH or TEXT (Optional unwrapped)."""
    kinds = [k for arg in typing.get_args(annotation) or [annotation] for k in typing.get_args(arg) or [arg]]
    choices = [k for k in kinds if isinstance(k, str)]
    if choices:
        return "{" + ",".join(choices) + "}"
    names = {int: "INT", float: "NUMBER", bool: "BOOL", Path: "PATH"}
    return next((names[k] for k in kinds if k in names), "TEXT")


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """--config, and one flag per setting of the config tree (all but secrets)."""
    parser.add_argument("--config", type=path_arg, metavar="TOML", help="Config file (default: built-in defaults).")
    group = parser.add_argument_group("settings (each also FER_EDGE_<SECTION>_<KEY> in the environment)")
    secrets = secret_settings()
    for path, info in iter_settings():
        if path in secrets:
            continue
        help_text = f"{info.description} [{env_name(path)}]"
        dest = "setting:" + ".".join(path)
        group.add_argument(flag_name(path), dest=dest, metavar=value_name(info.annotation), help=help_text)


def setting_flags(args: argparse.Namespace) -> dict[tuple[str, ...], str]:
    return {
        tuple(key.removeprefix("setting:").split(".")): value
        for key, value in vars(args).items()
        if key.startswith("setting:") and value is not None
    }


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="fer-edge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fer-edge {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("run", help="Run the agent until SIGTERM/SIGINT (or until a video file ends).")
    add_setting_flags(run)
    check = verbs.add_parser("check-config", help="Validate a config file; name each bad field.")
    check.add_argument("file", nargs="?", type=path_arg, help="Config file (or --config).")
    add_setting_flags(check)
    demo = verbs.add_parser(
        "demo", help="Run the agent on a bundled clip against a private local broker; print what arrives, "
        "each face's true label beside the prediction, and the accuracy."
    )
    demo.add_argument("--broker", metavar="HOST:PORT", help="Use this broker instead of starting a private one.")
    demo.add_argument(
        "--local-broker", choices=BROKERS, default="auto",
        help="The private broker: Mosquitto when installed, else amqtt in this process (auto), or either one.",
    )
    demo.add_argument("--model", type=path_arg, help="TFLite model (default: the shipped int8 model).")
    demo.add_argument(
        "--clip", type=path_arg,
        help="Video to run on (default: the bundled demo clip); its true labels, if any, in <stem>.labels.json beside it.",
    )
    for verb in (run, check, demo):
        verb.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    bench = verbs.add_parser("bench", help="Time each stage of the pipeline on a video, on one core.")
    add_bench_arguments(bench)
    model = verbs.add_parser("model", help="Model bundles: keygen, pack, sign, install (verified, reversible), status.")
    add_model_verbs(model, add_setting_flags)
    return parser


FLIP_AVERAGE = {"model": None, "on": True, "off": False}


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `fer-edge bench` (also `python -m edge.bench`)."""
    parser.add_argument("video", type=path_arg, help="video file the camera stage reads, every frame, unpaced")
    parser.add_argument("--model", type=path_arg, help="TFLite model (default: the shipped int8 model)")
    parser.add_argument(
        "--flip-average", choices=tuple(FLIP_AVERAGE), default="model",
        help="classify each face's mirror image too and average: as the model's metadata says (model), or on/off",
    )
    parser.add_argument(
        "--detector", choices=("haar", "yunet", "both"), default="haar",
        help="face detector of the pipeline; both: each in turn, side by side with their ratio (default haar)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per detector over the clip, alternating (default 3)")
    parser.add_argument(
        "--whole-search-baseline", action="store_true",
        help="add a first column, Haar searching the whole of every frame (the pipeline before near looks and "
        "carried boxes), and each other column's ratio to it: a figure that carries to other machines",
    )
    parser.add_argument(
        "--every-n-frames", type=int, default=1, metavar="N",
        help="detect faces in every N-th frame, the tracker carrying them in between (detector.every_n_frames; default 1)",
    )
    parser.add_argument(
        "--full-search-every", type=int, metavar="N",
        help="Haar: search the whole frame in every N-th detection, near the tracked faces in between "
        "(detector.full_search_every; default: the config's, 5); 1 searches the whole frame every time",
    )
    parser.add_argument(
        "--commit-seconds", type=float, metavar="S",
        help="outbox.commit_seconds of the pipeline (default: the config's); results are sent once stored, so this "
        "bounds the capture-to-delivery latency from below",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)


def run_until_signalled(config: EdgeConfig) -> int:
    """Assemble the agent and loop; SIGTERM and SIGINT only set the stop event."""
    from edge.agent import assemble

    agent = assemble(config)
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        agent.run(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def check_model_files(config: EdgeConfig) -> str:
    """Open what `run` opens before it starts, changing nothing: the trusted keys, the face detector, a video file or
    folder source (a camera is left alone), and the model it would run, loaded and checked as the agent does
    (an installed bundle's problems are warnings); returns which model that is."""
    from edge.camera import SOURCES
    from edge.detector import open_detector
    from edge.modelfile import find_model
    from edge.modelstore import classifier_factory, has_current, model_to_run
    from edge.signing import trusted_keys

    previous = logging.root.manager.disable
    logging.disable(logging.INFO)  # the loaders' INFO lines are run's; check-config says one line
    try:
        keys = trusted_keys(config.model_store.trusted_keys)
        open_detector(config.detector)
        source = SOURCES[config.camera.kind](config.camera)
        if not source.live:  # a file or folder; a camera is left alone, a running agent may hold it
            source.open()
            source.close()
        make_classifier = classifier_factory(config.classifier)
        store = config.model_store.path
        if config.classifier.model is None and has_current(store):
            # a warning, not an error: installing a bundle (after this check, in a rollout) is what mends a store
            try:
                running, failure = model_to_run(store, keys, make_classifier)
            except (FerEdgeError, OSError) as exc:
                print(f"fer-edge: warning: {exc}: run fails until a bundle that starts is installed "
                      "(fer-edge model install)", file=sys.stderr)
                return f"no model that starts installed in {store}"
            if failure is not None:
                print(f"fer-edge: warning: the current model fails ({failure}); run goes back to the previous one",
                      file=sys.stderr)
            return f"model {running.classifier.model_id} installed in {store}"
        return f"model {make_classifier(find_model(config.classifier.model)).model_id}"
    finally:
        logging.disable(previous)


def check_config(args: argparse.Namespace) -> int:
    from edge.camera import device_warning

    if args.file and args.config and args.file.resolve() != args.config.resolve():
        raise ConfigError(f"two config files ({args.file} and --config {args.config}); give the one to check once")
    path = args.file or args.config
    config = load_config(path, flags=setting_flags(args))
    model = check_model_files(config)
    for warning in [*check_tls_files(config), low_disk_warning(config.outbox.path), device_warning(config.camera)]:
        if warning is not None:
            print(f"fer-edge: warning: {warning}", file=sys.stderr)
    camera, mqtt = config.camera, config.mqtt
    print(
        f"{path or 'defaults'}: ok (device {config.device_id}, trigger {config.trigger.kind}, "
        f"camera {camera.kind} {camera.source}, detector {config.detector.kind}, {model}, "
        f"broker {mqtt.host}:{mqtt.port})"
    )
    return 0


def dispatch(args: argparse.Namespace) -> int:
    if args.verb == "model":
        return run_model(args, load_config, setting_flags)
    if args.verb == "check-config":
        return check_config(args)
    if args.verb == "run":
        config = load_config(args.config, flags=setting_flags(args))
        configure_logging(config.log_level, verbose=args.verbose or config.log_level == "DEBUG")
        for warning in check_tls_files(config):
            logging.getLogger("edge.tlsfiles").warning("%s", warning)  # and run anyway: another ACL may allow it
        return run_until_signalled(config)
    if args.verb == "demo":
        from edge.demo.run import run_demo

        configure_logging("INFO", verbose=args.verbose)
        return run_demo(broker=args.broker, model=args.model, clip=args.clip, local=args.local_broker)
    from edge.bench import bench_from_args

    configure_logging("WARNING", verbose=args.verbose)
    return bench_from_args(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded("fer-edge", lambda: dispatch(args))


if __name__ == "__main__":
    sys.exit(main())
