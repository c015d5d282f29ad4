"""The published JSON Schemas of edge/schema/ as validators: the contract both the agent and fer-monitor check."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).parent / "schema"


@lru_cache(maxsize=1)
def validators() -> dict[str, Any]:
    """topic leaf (emotion, event, status) -> Draft 2020-12 validator of edge/schema/<leaf>.schema.json."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = {p.name.split(".")[0]: json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.schema.json")}
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    formats = Draft202012Validator.FORMAT_CHECKER
    return {
        name: Draft202012Validator(schema, registry=registry, format_checker=formats)
        for name, schema in schemas.items()
        if name != "common"
    }


def problem(kind: str, payload: Any) -> str | None:
    """Why `payload` breaks the schema of `kind` (the first error, naming the field), or None when it is valid."""
    from jsonschema.exceptions import best_match

    error = best_match(validators()[kind].iter_errors(payload))
    if error is None:
        return None
    field = ".".join(str(p) for p in error.absolute_path) or "(the message)"
    return f"field '{field}': {shorten(error.message)}"


def shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
