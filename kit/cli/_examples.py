"""One table of examples, one for every command's ``--help``, and what every command shares: ``-h`` as well as
``--help``, flags shown without a ``<bool>`` type, and shell completion of recipe names, competitions, metrics and
precisions. :func:`apply` puts them on the commands where they are registered."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from kit.cli._complete import BY_PARAMETER

HELP_NAMES = {"help_option_names": ["-h", "--help"]}
EXAMPLES: dict[str, tuple[str, ...]] = {  # command path (below `kit`) → example lines
    "demo-data": (
        "kit demo-data --out data/demo",
        "kit demo-data --dataset shapes --out data/shapes",
        "kit demo-data --layout seedlings --out data/seedlings",
    ),
    "cv": ("kit cv demo --data data/demo", "kit cv deotte --jobs 2 --set train.epochs=30"),
    "runs": ("kit runs", "kit runs runs/digit-recognizer"),
    "report": ("kit report demo", "kit report runs/demo/demo --data data/demo"),
    "predict": ("kit predict demo --name demo --force", "kit predict runs/demo/demo runs/demo/demo-seed1 --select"),
    "distill": ("kit distill demo demo-seed1 --recipe demo",),
    "tune": ("kit tune demo --data data/demo --max-trials 4",),
    "bench": ("kit bench", "kit bench --full-size"),
    "auto": ("kit auto --data data/demo --time 5m", "kit auto --time 1h30m --metric log_loss"),
    "init": ("kit init --data data/seedlings --set metric=micro_f1",),
    "score": ("kit score submissions/demo.csv", "kit score submissions/demo.csv --metric log_loss"),
    "leaderboard": ("kit leaderboard", "kit leaderboard --competition digit-recognizer"),
    "recipe": ("kit recipe list", "kit recipe show demo"),
    "recipe list": ("kit recipe list",),
    "recipe show": ("kit recipe show demo --set train.epochs=3",),
    "recipe schema": ("kit recipe schema --out recipe.schema.json",),
    "fetch": ("kit fetch", "kit fetch --competition Kannada-MNIST --out data/kannada"),
    "submit": ('kit submit submissions/demo.csv -m "demo recipe"',),
    "submissions": ("kit submissions --competition digit-recognizer",),
    "kernel": ("kit kernel build demo --out kernels/demo", "kit kernel push kernels/demo --submit"),
    "kernel build": ("kit kernel build runs/digit-recognizer/deotte runs/digit-recognizer/tuned --weights 2,1",),
    "kernel push": ("kit kernel push kernels/kit-digit-recognizer --submit -m first",),
    "kernel train": ("kit kernel train deotte --competition digit-recognizer",),
}


def epilog(path: str) -> str:
    """The example block of the command ``kit <path>`` (paragraphs: typer keeps each on its own line)."""
    return "\n\n".join(["Examples:", *(f"  $ {line}" for line in EXAMPLES[path])])


def _plain(params: list[Any]) -> None:
    """Flags shown without a ``<bool>`` type; values completed by :data:`BY_PARAMETER` (by parameter name)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        complete = BY_PARAMETER.get(param.name or "")
        if complete is not None and getattr(param, "_custom_shell_complete", None) is None:
            param._custom_shell_complete = complete


class KitCommand(TyperCommand):
    """A kit command: flags without a ``<bool>`` type, and its parameters' values completed by :data:`BY_PARAMETER`."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _plain(params)
        return params


class KitGroup(TyperGroup):
    """The ``kit`` app and its command groups, as :class:`KitCommand`."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _plain(params)
        return params


def apply(app: typer.Typer, prefix: str = "") -> None:
    """Give every command registered on ``app`` (and its sub-apps) its examples, ``-h`` and :class:`KitCommand`."""
    for info in app.registered_commands:
        path = f"{prefix}{info.name or info.callback.__name__}"
        if not (isinstance(info.cls, type) and issubclass(info.cls, KitCommand)):
            info.cls = KitCommand
        info.context_settings = {**HELP_NAMES, **(info.context_settings or {})}
        if path in EXAMPLES and not info.epilog:
            info.epilog = epilog(path)
    for group in app.registered_groups:
        path = f"{prefix}{group.name}"
        if path in EXAMPLES and not group.epilog:
            group.epilog = epilog(path)
        group.context_settings = {**HELP_NAMES, **(group.context_settings or {})}
        if not (isinstance(group.cls, type) and issubclass(group.cls, KitGroup)):
            group.cls = KitGroup
        apply(group.typer_instance, f"{path} ")
