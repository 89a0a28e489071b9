"""Options and wording shared by the commands: the ``--set KEY=VALUE`` recipe overrides, and library errors that
name an argument (``force``) worded with the command's flags (``--force``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kit.errors import KitError

SET_HELP = "Override a recipe key, e.g. --set train.learning_rate=3e-3 (repeatable; dotted keys, TOML values)."


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """The ``--set KEY=VALUE`` items as dotted recipe overrides (values parsed as TOML by the recipe module)."""
    if not items:
        return {}
    from kit.recipes import parse_set

    return parse_set(items)


def flag(argument: str) -> str:
    """The usual flag of a library argument: ``max_trials`` → ``--max-trials``."""
    return "--" + argument.replace("_", "-")


def flags(*arguments: str, **renamed: str) -> dict[str, str]:
    """A command's library arguments → its flags: each of ``arguments`` by :func:`flag`, ``renamed`` as given
    (``flags("force", tta_precision="--precision")``)."""
    return {**{argument: flag(argument) for argument in arguments}, **renamed}


def as_flags(error: KitError, arguments: Mapping[str, str] | Iterable[str]) -> KitError:
    """A library error worded with the command's flags: ``arguments`` maps the library's argument names to them (an
    iterable of names maps each by :func:`flag`). Only the error's data (its ``argument`` and ``fix``) is used; an
    error naming none of the command's arguments keeps its words."""
    mapping = arguments if isinstance(arguments, Mapping) else flags(*arguments)
    return KitError(error.render(mapping))


def notes_to(show: Callable[[str], None]) -> Any:
    """While open, each of kit's notes (the demo-data fallback, :class:`kit.data.DemoDataWarning`) goes to ``show`` as
    its one line; other warnings as before."""
    from kit.data import DemoDataWarning
    from kit.utils import warnings_to

    return warnings_to(show, DemoDataWarning)


def deprecated_flag(old: str, new: str, given: Any, value: Any) -> Any:
    """The value of ``new``, or of its deprecated alias ``old`` where that was given (with one warning line)."""
    if given is None:
        return value
    from kit.cli.render import errors

    errors.print(f"[yellow]warning:[/] {old} is deprecated and goes in the next release; use {new}", highlight=False)
    return given
