"""Shell completion of kit's values: recipe names (shipped and ``./recipes``), competition names, metrics and
precisions. Each function takes click's ``(ctx, param, incomplete)`` and returns the matching candidates."""

from __future__ import annotations

from typing import Any

PRECISIONS = ("float32", "int8")  # kit predict --precision (as kit.engine.PRECISIONS; a test keeps them equal)


def _matching(names: list[str], incomplete: str) -> list[str]:
    return [name for name in names if name.startswith(incomplete)]


def recipe_names(ctx: Any = None, param: Any = None, incomplete: str = "") -> list[str]:
    """Every recipe name on the search path (``./recipes`` and the shipped ones) that starts with ``incomplete``."""
    from kit.recipes import list_recipes

    return _matching([entry.name for entry in list_recipes()], incomplete)


def competition_names(ctx: Any = None, param: Any = None, incomplete: str = "") -> list[str]:
    """Every competition kit has a spec for (shipped and ``./competitions``) that starts with ``incomplete``."""
    from kit.competitions import known_competitions

    return _matching(sorted(known_competitions()), incomplete)


def metric_names(ctx: Any = None, param: Any = None, incomplete: str = "") -> list[str]:
    """Every metric of :data:`kit.competitions.METRICS` that starts with ``incomplete``."""
    from kit.competitions import METRICS

    return _matching(sorted(METRICS), incomplete)


def precision_names(ctx: Any = None, param: Any = None, incomplete: str = "") -> list[str]:
    """The precisions ``kit predict --precision`` takes that start with ``incomplete``."""
    return _matching(list(PRECISIONS), incomplete)


BY_PARAMETER = {  # a command's parameter name → what completes it
    "recipe": recipe_names,
    "competition": competition_names,
    "metric": metric_names,
    "precision": precision_names,
}
