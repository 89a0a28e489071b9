"""A recipe's ``[tune]`` table as a KerasTuner search space: choices and ranges over dotted recipe keys, validated
against the recipe so that every value a trial may draw is one the recipe accepts."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any

from kit.errors import KitError
from kit.recipes import Recipe, apply_overrides, parse_recipe
from kit.tuning._tunedfile import SIGNIFICANT_DIGITS
from kit.utils import MISSING, flatten_keys, get_dotted, table_child, toml_value

if TYPE_CHECKING:
    import keras_tuner as kt

TUNERS = ("bayesian", "hyperband", "random")
SAMPLINGS = ("linear", "log", "reverse_log")
RANGE_KEYS = ("min", "max", "step", "sampling")
DEFAULT_SETTINGS = {"holdout": 0.2, "tuner": "bayesian", "max_trials": 10}
NOT_TUNABLE = {"name", "description", "tune", "content"}  # the recipe's own (a backbone's name is tunable)
MAX_TRIALS = 100_000


@dataclass(frozen=True)
class Tunable:
    """One searched recipe key: a list of ``choices``, or a range from ``low`` to ``high`` (optional step, sampling)."""

    key: str
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    sampling: str = "linear"
    integer: bool = False

    def declare(self, hp: kt.HyperParameters) -> Any:
        """Register this key on ``hp`` (a Choice, Int or Float named by the key) and return the trial's value."""
        if self.choices:
            return hp.Choice(self.key, list(self.choices))
        make = hp.Int if self.integer else hp.Float
        return make(self.key, self.low, self.high, step=self.step, sampling=self.sampling)

    def describe(self) -> str:
        """The searched values as a short text: ``0.1 | 0.2 | 0.3`` or ``0.0001 … 0.01 (log)``."""
        if self.choices:
            return " | ".join(_shown(choice) for choice in self.choices)
        step = f" step {_shown(self.step)}" if self.step is not None else ""
        sampling = f" ({self.sampling})" if self.sampling != "linear" else ""
        return f"{_shown(self.low)} … {_shown(self.high)}{step}{sampling}"


def _shown(value: Any) -> str:
    """A value as the tuned recipe writes it (TOML, floats to 10 significant digits: 0.30000000000000004 reads 0.3)."""
    return toml_value(value, SIGNIFICANT_DIGITS)


@dataclass(frozen=True)
class SearchSpace:
    """A recipe's ``[tune]`` table: the searched keys, the hold-out fraction, the tuner and its number of trials."""

    tunables: tuple[Tunable, ...]
    holdout: float = DEFAULT_SETTINGS["holdout"]
    tuner: str = DEFAULT_SETTINGS["tuner"]
    max_trials: int = DEFAULT_SETTINGS["max_trials"]

    @property
    def keys(self) -> list[str]:
        return [tunable.key for tunable in self.tunables]

    def declare(self, hp: kt.HyperParameters) -> dict[str, Any]:
        """Register every key on ``hp`` and return the trial's values by dotted recipe key."""
        return {tunable.key: tunable.declare(hp) for tunable in self.tunables}


def parse_space(recipe: Recipe) -> SearchSpace:
    """Validate the recipe's ``[tune]`` table into a :class:`SearchSpace`, failing with one line naming the key.

    Dotted keys are recipe keys (``"model.blocks.0.dropout"``; unquoted dotted keys work too) taking a list of choices
    or ``{ min, max, step, sampling }``; every choice and bound must be a value the recipe accepts. The plain keys
    ``holdout``, ``tuner`` and ``max_trials`` set the search.
    """
    where = f"recipe {recipe.name}: [tune]"
    settings, space = {}, {}
    for key, value in _flatten(recipe.tune).items():
        if "." in key:
            space[key] = value
        elif key in DEFAULT_SETTINGS:
            settings[key] = value
        else:
            raise KitError(
                f"{where} unknown key {key!r}; it takes {', '.join(DEFAULT_SETTINGS)} and dotted recipe keys such as "
                '"train.optimizer" = ["adam", "rmsprop"]'
            )
    if not space:
        raise KitError(
            f"{where} has no keys to search; add some, e.g. "
            '[tune] "model.blocks.0.dropout" = [0.1, 0.3, 0.5] (see recipes/tuned-search.toml)'
        )
    firsts = {key: value[0] if isinstance(value, list) and value else _min(value) for key, value in space.items()}
    tunables = tuple(
        _tunable(recipe, key, value, f"{where} key {key!r}", {k: v for k, v in firsts.items() if k != key})
        for key, value in space.items()
    )
    return SearchSpace(tunables, **_settings(settings, where))


def _flatten(table: dict[str, Any]) -> dict[str, Any]:
    """``[tune]`` with nested tables (unquoted dotted keys) turned into dotted keys; range tables stay as values."""
    return flatten_keys(table, is_value=lambda value: bool(set(value) & set(RANGE_KEYS)))


def _settings(settings: dict[str, Any], where: str) -> dict[str, Any]:
    holdout = settings.get("holdout", DEFAULT_SETTINGS["holdout"])
    if not _is_number(holdout) or not 0 < holdout < 1:
        raise _invalid(f"{where} key holdout", "a fraction strictly between 0 and 1, e.g. 0.2", holdout)
    checked = {"holdout": float(holdout)}
    if "tuner" in settings:
        checked["tuner"] = tuner_kind(settings["tuner"], f"{where} key tuner")
    if "max_trials" in settings:
        checked["max_trials"] = trial_budget(settings["max_trials"], f"{where} key max_trials")
    return checked


def _invalid(where: str | None, expected: str, value: Any, argument: str = "") -> KitError:
    """The one wording of a bad value, about the library ``argument`` (``where`` None) or a recipe key (``where``)."""
    if where is None:
        return KitError.invalid(argument, expected, value)
    return KitError(f"{where}: must be {expected}, got {value!r}")


def tuner_kind(name: Any, where: str | None = None) -> str:
    """``name`` if it is a KerasTuner tuner kit offers, else a one-line error about the argument ``tuner`` (or the
    recipe key ``where``)."""
    if name not in TUNERS:
        raise _invalid(where, f"one of {', '.join(TUNERS)}", name, "tuner")
    return name


def trial_budget(trials: Any, where: str | None = None) -> int:
    """``trials`` if it is a number of trials kit runs, else a one-line error about the argument ``max_trials`` (or
    the recipe key ``where``)."""
    if not isinstance(trials, int) or isinstance(trials, bool) or not 1 <= trials <= MAX_TRIALS:
        raise _invalid(where, f"a whole number of trials from 1 to {MAX_TRIALS:,}", trials, "max_trials")
    return trials


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _setting(node: Any, part: str) -> Any:
    """One step into a recipe: a tunable field of a table, or an item of a list of tables by index; else MISSING."""
    if is_dataclass(node):
        hidden = NOT_TUNABLE if isinstance(node, Recipe) else set()
        return getattr(node, part) if part in {spec.name for spec in fields(node)} - hidden else MISSING
    return table_child(node, part) if isinstance(node, tuple) else MISSING


def _recipe_value(recipe: Recipe, key: str, where: str) -> Any:
    """The recipe's value at a dotted key (list items by index), failing if the recipe has no such setting."""
    node = get_dotted(recipe, key, child=_setting)
    if node is MISSING:
        raise KitError(
            f"{where}: no such setting in this recipe; use the dotted key of a value it has, "
            'e.g. "model.blocks.0.dropout" or "train.optimizer"'
        )
    if is_dataclass(node) or (isinstance(node, tuple) and node and is_dataclass(node[0])):
        example = f"{key}.{fields(_first(node))[0].name}"
        raise KitError(f"{where}: is a table, not a value; search one of its keys, e.g. {example}")
    return node


def _first(node: Any) -> Any:
    return node[0] if isinstance(node, tuple) else node


def _min(spec: Any) -> Any:
    return spec.get("min") if isinstance(spec, dict) else None


def _tunable(recipe: Recipe, key: str, spec: Any, where: str, others: dict[str, Any]) -> Tunable:
    """``key``'s search space, each candidate checked against the recipe — or, where that fails, with the other
    searched keys at their first values too (a backbone's name searched with its ``unfreeze_from``)."""
    current = _recipe_value(recipe, key, where)
    if isinstance(spec, list):
        tunable = Tunable(key, choices=_choices(spec, where))
        candidates = tunable.choices
    elif isinstance(spec, dict):
        tunable = _range(spec, isinstance(current, int) and not isinstance(current, bool), key, where)
        candidates = (tunable.low, tunable.high)
    else:
        raise KitError(f"{where}: expected a list of choices or a range {{ min = …, max = … }}, got {spec!r}")
    others = {name: value for name, value in others.items() if value is not None}
    for value in candidates:
        problems = [_problem(recipe, {**extra, key: value}) for extra in ({}, others)]
        if all(problems):
            raise KitError(f"{where}: {value!r} does not fit the recipe ({problems[0]})")
    return tunable


def _problem(recipe: Recipe, overrides: dict[str, Any]) -> str | None:
    """Why the recipe with ``overrides`` is no recipe, or None."""
    try:
        content = recipe.table()
        apply_overrides(content, overrides)
        parse_recipe(content, recipe.name)
    except KitError as error:
        return str(error)
    return None


def _choices(values: list[Any], where: str) -> tuple[Any, ...]:
    if not values:
        raise KitError(f"{where}: empty list of choices; give the values to try, e.g. [0.1, 0.3, 0.5]")
    if any(isinstance(value, (list, dict)) for value in values):
        raise KitError(f"{where}: choices must be numbers, strings or booleans, got {values!r}")
    if all(_is_number(value) for value in values) and any(isinstance(value, float) for value in values):
        values = [float(value) for value in values]  # [0, 0.5] is a list of floats
    if len({type(value) for value in values}) > 1:
        raise KitError(f"{where}: choices mix types ({values!r}); give values of one type")
    if len(set(values)) < len(values):
        raise KitError(f"{where}: choices repeat a value ({values!r}); list each value once")
    return tuple(values)


def _range(spec: dict[str, Any], integer: bool, key: str, where: str) -> Tunable:
    unknown = set(spec) - set(RANGE_KEYS)
    if unknown:
        raise KitError(f"{where}: unknown range key {sorted(unknown)[0]!r}; a range takes {', '.join(RANGE_KEYS)}")
    for name in ("min", "max"):
        if name not in spec:
            raise KitError(f"{where}: range without {name}; write {{ min = …, max = … }}")
    low, high, step, sampling = spec["min"], spec["max"], spec.get("step"), spec.get("sampling", "linear")
    for name, value in (("min", low), ("max", high), ("step", step)):
        if value is not None and not _is_number(value):
            raise KitError(f"{where}: range {name} must be a finite number, got {value!r}")
        if integer and value is not None and not isinstance(value, int):
            raise KitError(f"{where}: {key} takes integers, so the range {name} must be one, got {value!r}")
    if low >= high:
        raise KitError(f"{where}: range min {low} must be less than max {high}")
    if step is not None and step <= 0:
        raise KitError(f"{where}: range step must be > 0, got {step}")
    if sampling not in SAMPLINGS:
        raise KitError(f"{where}: unknown sampling {sampling!r}; use {', '.join(SAMPLINGS)}")
    if sampling != "linear" and low <= 0:
        raise KitError(f"{where}: {sampling} sampling needs min > 0, got {low}")
    number = int if integer else float
    step = None if step is None else number(step)
    return Tunable(key, low=number(low), high=number(high), step=step, sampling=sampling, integer=integer)
