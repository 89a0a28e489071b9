"""The [tune] search space: every value a trial may draw is one the recipe accepts, checked with the recipe's rules
(finite numbers, bounds) before any search, each problem one line naming the key; no KerasTuner needed to check."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import pytest

from kit.errors import KitError
from kit.recipes import load_recipe
from kit.tuning import parse_space


def with_tune(table, name="demo"):
    return dataclasses.replace(load_recipe(name), tune=table)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"train.learning_rate": [0.01, math.nan]},
            r"key 'train.learning_rate': nan does not fit the recipe \(key train"
            r".learning_rate: nan is not a finite number",
        ),
        ({"augment.rotation": [10.0, math.inf]}, r"key 'augment.rotation': inf does not fit the recipe"),
        ({"train.learning_rate": {"min": math.nan, "max": 0.1}}, r"range min must be a finite number, got nan"),
        ({"train.learning_rate": {"min": 0.001, "max": math.inf}}, r"range max must be a finite number, got inf"),
        ({"train.learning_rate": {"min": 0.001, "max": 0.1, "step": math.nan}}, r"range step must be a finite number"),
        ({"cv.seed": [1, 5_000_000]}, r"5000000 does not fit the recipe \(key cv.seed: 5000000 must be ≤ 1000000\)"),
        ({"model.dense.0.units": {"min": 8, "max": 1_000_000}}, r"1000000 does not fit the recipe .*must be ≤ 65536"),
        ({"model.dense.0.units": [64, 10**12]}, r"key 'model.dense.0.units': 1000000000000 does not fit"),
        (
            {"train.epochs": [1, 2], "holdout": math.nan},
            r"key holdout: must be a fraction strictly between 0 and 1, e.g. 0.2, got ",
        ),
        (
            {"train.epochs": [1, 2], "max_trials": 10**9},
            r"key max_trials: must be a whole number of trials from 1 to [\d,]+, got ",
        ),
        ({"train.schedule.decay": [0.9]}, r"key 'train.schedule.decay': no such setting in this recipe"),
    ],
)
def test_space_values_are_checked_like_recipe_values(table, message):
    with pytest.raises(KitError, match=message) as error:
        parse_space(with_tune(table))
    assert "\n" not in str(error.value) and str(error.value).startswith("recipe demo: [tune]")


def test_schedule_settings_of_the_recipes_kind_are_searchable():
    space = parse_space(with_tune({"train.schedule.decay": {"min": 0.9, "max": 0.99}}, name="deotte"))
    assert (space.tunables[0].low, space.tunables[0].high, space.tunables[0].integer) == (0.9, 0.99, False)
    space = parse_space(with_tune({"train.schedule.warmup": [0.1, 0.3]}, name="fast"))
    assert space.tunables[0].choices == (0.1, 0.3)


def test_checking_a_space_imports_no_tensorflow_or_keras_tuner():
    code = (
        "import sys, dataclasses; from kit.recipes import load_recipe; from kit.tuning import parse_space; "
        "parse_space(load_recipe('tuned-search')); "
        "print(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
