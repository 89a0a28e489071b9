"""The notebook-facing wrappers that need more than a re-export: :func:`cv` takes a recipe by name, path or object,
and recipe overrides as keyword arguments (dotted keys or nested tables)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kit.crossval import CVResult
from kit.errors import KitError
from kit.utils import Callback, renamed

MAX_HOLDOUT = 0.5  # the largest share of the training rows kit cv keeps out of every fold (as kit.crossval.run_cv)


def flatten_overrides(overrides: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"learning_rate": 3e-3}, "cv.folds": 3}`` → ``{"train.learning_rate": 3e-3, "cv.folds": 3}``."""
    from kit.utils import flatten_keys

    return {f"{prefix}{key}": value for key, value in flatten_keys(overrides).items()}


def resolve_recipe(recipe: Any, overrides: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A recipe (name, path or Recipe) with dotted ``overrides`` applied; returns it and the flat overrides."""
    from kit.recipes import Recipe, load_recipe

    if isinstance(recipe, Path):
        recipe = str(recipe)
    if isinstance(recipe, str):
        recipe = load_recipe(recipe)
    elif not isinstance(recipe, Recipe):
        raise KitError(
            f"must be a recipe name, a path to a .toml file or a kit.Recipe, got {type(recipe).__name__}",
            argument="recipe",
        )
    flat = flatten_overrides(overrides)
    return (recipe.with_overrides(flat) if flat else recipe), flat


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_cv_arguments(folds: Any, epochs: Any, holdout: Any, threshold: Any = None) -> None:
    """The arguments of :func:`cv` checked before any work, each bad one as ``NAME: must be …, got …``
    (``threshold`` None: no pseudo-labels, so not checked)."""
    for name, value in (("folds", folds), ("epochs", epochs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise KitError.invalid(name, "a whole number", value)
    if not _is_number(holdout) or not 0 <= holdout <= MAX_HOLDOUT:
        raise KitError.invalid("holdout", f"a share from 0 to {MAX_HOLDOUT} of the training rows", holdout)
    if threshold is not None and (not _is_number(threshold) or not 0 < threshold <= 1):
        raise KitError.invalid("threshold", "a probability in (0, 1], e.g. 0.99", threshold)


def cv(
    recipe: Any,
    data: str | Path | None = None,
    *,
    folds: int | None = None,
    epochs: int | None = None,
    out: str | Path | None = None,
    jobs: int | str = "auto",
    force: bool = False,
    callbacks: Iterable[Callback] | Callback | None = (),
    competition: str | None = None,
    cluster: str | None = None,
    holdout: float = 0.0,
    pseudo: Any = None,
    threshold: float = 0.99,
    track: bool | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    **deprecated: Any,
) -> CVResult:
    """Cross-validate ``recipe`` on the competition folder ``data`` and return the finished run.

    ``recipe`` is a name (``"demo"``), a path to a ``.toml`` file or a :class:`kit.Recipe`; ``folds``/``epochs`` and
    ``overrides`` (dotted keys, ``{"train.learning_rate": 3e-3}``, or tables, ``{"train": {"learning_rate": 3e-3}}``,
    as :func:`tune` and :func:`kit.bench` take them; overrides as extra keywords are deprecated) change it and are
    recorded in the run. Finished folds in ``out`` (default ``runs/<competition>/<recipe>``, ``runs/demo/<recipe>``
    on the demo digits) are resumed;
    ``force=True`` retrains. ``callbacks`` receive progress (see :class:`kit.Callback`). ``holdout`` keeps that share
    of the training rows out of every fold and scores the fold models on it. ``pseudo`` (a submission written by
    ``kit.predict``, run folders, or :class:`kit.ensemble._pseudo.PseudoLabels`) adds the test rows predicted with at
    least ``threshold`` probability, with those labels, to every fold's training part (never to a validation part).
    ``track`` logs the run to MLflow (``pip install kit[track]``): ``True`` at ``KIT_TRACKING_URI``, else
    ``MLFLOW_TRACKING_URI``, else ``sqlite:///runs/mlflow.db``; a string at that URI; None (the default) only where one
    of those variables is set; ``False`` never. Tracking never fails the run (a warning says when it is off).
    """
    check_cv_arguments(folds, epochs, holdout, threshold if pseudo is not None else None)
    from kit.crossval import run_cv
    from kit.utils import run_tracked, tracking_uri

    tracking_uri(track)  # a bad value fails before any work

    if pseudo is not None and not hasattr(pseudo, "fingerprint"):
        from kit.ensemble import pseudo_rows

        pseudo = pseudo_rows(pseudo, threshold, data)

    if deprecated:
        warnings.warn(
            "kit.cv(..., KEY=VALUE) overrides are deprecated and go in the next release; use overrides={...}",
            DeprecationWarning,
            stacklevel=2,
        )
    changes = {**deprecated, **(overrides or {})}
    if folds is not None:
        changes["cv.folds"] = folds
    if epochs is not None:
        changes["train.epochs"] = epochs
    resolved, flat = resolve_recipe(recipe, changes)

    def call(listeners: Callback) -> CVResult:
        return run_cv(
            resolved,
            data,
            competition,
            out,
            jobs=jobs,
            force=force,
            callbacks=listeners,
            cluster=cluster,
            overrides=flat,
            holdout=holdout,
            pseudo=pseudo,
        )

    named = competition if isinstance(competition, str) else getattr(competition, "name", None)
    tags = {"recipe_hash": resolved.content_hash, "competition": named}
    return run_tracked(track, call, callbacks, name=resolved.name, recipe=resolved, overrides=flat, **tags)


def tune(
    recipe: Any,
    data: str | Path | None = None,
    *,
    competition: Any = None,
    tuner: str | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    recipes_dir: str | Path = "recipes",
    force: bool = False,
    restart: bool = False,
    role: Any = None,
    callbacks: Iterable[Callback] | Callback | None = (),
    track: bool | str | None = None,
) -> Any:
    """Search the ``[tune]`` space of ``recipe`` and write ``<recipes_dir>/<recipe>-tuned.toml`` from the winner: the
    arguments of :func:`kit.tuning.run_tune`, and ``track`` as :func:`cv` takes it (a parent run per search, a child
    run per trial with its values and score)."""
    from kit.tuning import run_tune
    from kit.utils import run_tracked, tracking_uri

    described: dict[str, Any] = {"name": Path(str(getattr(recipe, "name", recipe))).stem}
    if tracking_uri(track):
        changes = {**(overrides or {}), **({} if epochs is None else {"train.epochs": epochs})}
        try:
            resolved, flat = resolve_recipe(recipe, changes)
            described |= {"name": resolved.name, "recipe": resolved, "overrides": flat}
            described |= {"recipe_hash": resolved.content_hash, "tuner": tuner}
        except KitError:
            pass  # the search says what is wrong with the recipe
    arguments = {"competition": competition, "tuner": tuner, "max_trials": max_trials, "epochs": epochs, "out": out}
    arguments |= {"overrides": overrides, "recipes_dir": recipes_dir, "force": force, "restart": restart, "role": role}
    return run_tracked(
        track, lambda listeners: run_tune(recipe, data, callbacks=listeners, **arguments), callbacks, **described
    )


@renamed(data_dir="data", pseudo_threshold="threshold")
def distill(
    runs: Any,
    recipe: Any,
    alpha: float = 0.5,
    holdout: float = 0.1,
    threshold: float | None = None,
    epochs: int | None = None,
    out: str | Path | None = None,
    data: str | Path | None = None,
    name: str | None = None,
    submissions: str | Path | None = None,
    force: bool = False,
    callbacks: Iterable[Callback] = (),
) -> Any:
    """Distil the runs' equal soft vote into one ``recipe`` model (:func:`kit.ensemble.distill`): ``data`` the data
    folder, ``threshold`` the probability a test row needs to join as a pseudo-label (None: none join)."""
    from kit.ensemble import distill as run_distill

    return run_distill(runs, recipe, alpha, holdout, threshold, epochs, out, data, name, submissions, force, callbacks)


@renamed(data_dir="data")
def init(
    data: str | Path,
    name: str | None = None,
    write: bool = True,
    force: bool = False,
    settings: Mapping[str, Any] | None = None,
) -> Any:
    """Infer the competition spec of the data folder ``data`` (:func:`kit.data.infer_competition`) and, with
    ``write``, write it there as ``competition.toml``; ``settings`` are the dotted keys given for it."""
    from kit.data import infer_competition

    return infer_competition(data, name, write, force, None if settings is None else dict(settings))
