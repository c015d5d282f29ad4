"""The project's ArgumentParser: no abbreviated flags, and no argument values echoed in an error.

argparse's default takes `--mqtt-password x` as `--mqtt-password-file x`, and names what it could not parse
verbatim, which puts a secret typed as a flag into the terminal and the journal.
"""

from __future__ import annotations

import argparse

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
