"""The project's ArgumentParser: no abbreviated flags, and no argument values echoed in an error; and the
bounded number types its commands' flags share.

argparse's default takes `--mqtt-password x` as `--mqtt-password-file x`, and names what it could not parse
verbatim, which puts a secret typed as a flag into the terminal and the journal.
"""

from __future__ import annotations

import argparse
from pathlib import Path

UNRECOGNIZED = "unrecognized arguments: "


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        if message.startswith(UNRECOGNIZED):
            words = message.removeprefix(UNRECOGNIZED).split()
            flags = [word.split("=", 1)[0] for word in words if word.startswith("-")]
            message = UNRECOGNIZED + (" ".join(flags) or "values") + " (values not shown; see --help)"
        super().error(message)


def int_at_least(least: int, most: int | None = None):
    """An argparse type: an integer of `least` or more (and `most` or less, when given)."""
    def parse(text: str) -> int:
        value = int(text)
        if most is not None and not least <= value <= most:
            raise argparse.ArgumentTypeError(f"must be between {least} and {most}, got {value}")
        if value < least:
            raise argparse.ArgumentTypeError(f"must be {least} or more, got {value}")
        return value

    parse.__name__ = "int"  # what argparse calls the type in "invalid int value"
    return parse


def float_between(low: float, high: float, note: str = ""):
    """An argparse type: a number in low..high (NaN refused); `note` says where the bounds come from."""
    def parse(text: str) -> float:
        value = float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}{note}, got {value}")
        return value

    parse.__name__ = "float"
    return parse


def path_arg(text: str) -> Path:
    """An argparse type: a file or folder name, refused when empty (Path("") would quietly be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: name a file or folder")
    return Path(text)


path_arg.__name__ = "path"


def one_line_text(text: str) -> str:
    """An argparse type: a name printed in logs and messages, so non-empty and without control characters."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty")
    if not text.isprintable():
        raise argparse.ArgumentTypeError("holds a control character (a newline or tab?); give one line of text")
    return text
