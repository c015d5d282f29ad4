"""Command-line flags derived from an options dataclass: one flag per field, its docstring as the help.

The dataclass is the one source: a field `learning_rate: float = 1e-3` with a docstring below it becomes
`--learning-rate` (type float, default 1e-3, the docstring as help). A Literal annotation gives the choices, a
bool defaulting to False a switch, one defaulting to True a `--no-...` switch, `list[int]` takes several values.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import typing
from functools import lru_cache
from pathlib import Path

from edge.argparsing import path_arg


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default where it says something (not for switches and unset options)."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or isinstance(action, argparse._StoreFalseAction):
            return action.help
        return super()._get_help_string(action)


@lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass, by field name."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for statement, following in zip(body, body[1:]):
        if isinstance(statement, ast.AnnAssign) and isinstance(following, ast.Expr) and isinstance(
            getattr(following, "value", None), ast.Constant
        ):
            docs[statement.target.id] = " ".join(str(following.value.value).split())
    return docs


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_flags(group, cls: type, skip: tuple[str, ...] = (), defaults: dict | None = None) -> None:
    """One flag per field of dataclass `cls` (nested dataclasses and `skip` left out), added to `group`."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if field.name in skip or dataclasses.is_dataclass(hint):
            continue
        default = (defaults or {}).get(field.name, _default(field))
        kwargs = _argument(field.name, hint, default)
        kwargs["help"] = docs.get(field.name, "").replace("%", "%%")
        group.add_argument(*kwargs.pop("flags"), **kwargs)


def _default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _argument(name: str, hint, default) -> dict:
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    if base is bool:
        if default:
            return {"flags": [flag("no_" + name)], "dest": name, "action": "store_false"}
        return {"flags": [flag(name)], "action": "store_true"}
    kwargs: dict = {"flags": [flag(name)], "default": default}
    if default is None and not optional:
        kwargs["required"] = True
    if typing.get_origin(base) is typing.Literal:
        choices = typing.get_args(base)
        kwargs.update(choices=choices, type=type(choices[0]))
    elif typing.get_origin(base) is list:
        kwargs.update(nargs="*", type=typing.get_args(base)[0])
    else:
        kwargs["type"] = path_arg if base is Path else base
    return kwargs


def from_args(cls: type, args: argparse.Namespace, **given):
    """An instance of dataclass `cls` from parsed flags (fields absent from `args` taken from `given`)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **given})
