"""One line for the first thing a pydantic model refused, as every sidecar and labels file reports it."""

from __future__ import annotations

from pydantic import ValidationError


def first_problem(error: ValidationError) -> str:
    """`field 'a.0.b': what is wrong` for the first error; the top level is named as such."""
    first = error.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
    return f"field {field!r}: {message}"
