"""Readable help: usage lines and option types in plain words (``NAME``, ``PATH``, ``INTEGER``).

Typer renders a required argument as ``{name}`` in the usage line and a value's type as ``<str>``,
``<bool>`` (even for a flag that takes no value): these command classes write them the way manuals do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["ReadableCommand", "ReadableGroup"]

_TYPE_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH", "bool": "BOOLEAN"}


def _word(bare_type: str) -> str:
    inner = bare_type.removeprefix("list[").removesuffix("]")  # a repeatable option takes one at a time
    return _TYPE_WORDS.get(inner, inner.upper())


def _no_type(ctx: Any) -> None:
    del ctx


def _plain_metavars(params: Iterable[Any]) -> None:
    for param in params:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else _word(param.bare_type())
        elif isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = str(param.name or "value").upper()
            # Its name column already says what it is (TOKEN, NAME): no "<str>" beside it.
            setattr(param, "display_type_rich", _no_type)  # noqa: B010 - an instance override


class ReadableGroup(TyperGroup):
    """A command group whose options show a plain metavar (none for a flag)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_metavars(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _plain_metavars([option])
        return option


class ReadableCommand(TyperCommand):
    """A command whose usage line says ``NAME`` / ``[NAME]`` and whose options show a plain metavar
    (none at all for a flag)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_metavars(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _plain_metavars([option])
        return option

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or str(param.name or "value").upper()
                if param.nargs != 1:
                    name += "..."
                pieces.append(name if param.required else f"[{name}]")
        return pieces
