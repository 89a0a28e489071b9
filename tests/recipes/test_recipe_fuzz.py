"""Property-based fuzz of the recipe loader (Hypothesis): whatever a recipe file, a table, an override or a --set item
holds, kit answers with a valid Recipe or a one-line KitError, never another exception — and every table the models
accept, the JSON Schema accepts too."""

from __future__ import annotations

import contextlib
import copy
import math
import os
import tomllib
from pathlib import Path

import jsonschema
import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kit.errors import KitError
from kit.recipes import Recipe, apply_overrides, load_recipe, parse_recipe, parse_set, recipe_json_schema

EXAMPLES = int(os.environ.get("KIT_FUZZ_EXAMPLES", "120"))  # more for a longer hunt: KIT_FUZZ_EXAMPLES=5000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    "description", "model", "model.blocks", "model.blocks.0", "model.blocks.0.filters", "model.blocks.0.convs",
    "model.blocks.0.kernel", "model.blocks.0.strides", "model.blocks.0.padding", "model.blocks.0.batch_norm",
    "model.blocks.0.pool", "model.blocks.0.dropout", "model.blocks.1", "model.dense", "model.dense.0.units",
    "model.dense.0.batch_norm", "model.dense.0.dropout", "model.activation", "model.head", "model.head_dropout",
    "model.output_batch_norm", "model.batch_norm_momentum", "train", "train.optimizer", "train.learning_rate",
    "train.schedule", "train.schedule.kind", "train.schedule.decay", "train.schedule.warmup",
    "train.schedule.start_factor", "train.schedule.final_factor", "train.weight_decay", "train.ema", "train.loss",
    "train.label_smoothing", "train.batch_size", "train.epochs", "train.precision", "train.jit_compile", "cv.folds",
    "cv.seed", "augment.rotation", "augment.zoom", "augment.width_shift", "augment.height_shift", "augment.fill_mode",
    "augment.flip_horizontal", "augment.flip_vertical", "augment.rotate90", "augment.crop", "augment.brightness",
    "augment.contrast", "augment.saturation", "augment.hue",
    "callbacks.early_stopping", "callbacks.early_stopping.patience", "callbacks.early_stopping.monitor",
    "callbacks.reduce_lr_on_plateau", "callbacks.reduce_lr_on_plateau.factor", "tune", "extends", "nonsense",
]  # fmt: skip
WORDS = [
    "same", "valid", "max", "avg", "none", "constant", "exponential", "cosine", "one_cycle", "adam", "adamw",
    "before_activation", "after_activation", "nearest", "auto", "float32", "mixed_bfloat16", "val_loss", "base",
]  # fmt: skip
NUMBERS = [0, 1, 2, 3, 5, 8, 32, 4096, 65_536, 10**9, -1, 0.0, 0.1, 0.5, 0.9, 0.95, 1.0, 1e-3, 1e12]

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(WORDS),
    st.sampled_from(NUMBERS),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
plausible = st.sampled_from([*NUMBERS, *WORDS, True, False, [3, 5], [8, 16]])
guesses = st.one_of(plausible, plausible, plausible, values)  # mostly values a recipe could hold, so some pass
# A small valid recipe: random changes at real keys then test the rules one or two at a time.
BASE = {
    "model": {"blocks": [{"filters": 8}, {"filters": 16, "convs": 2}], "dense": [{"units": 32}]},
    "train": {"epochs": 2, "schedule": {"kind": "exponential", "decay": 0.9}},
    "callbacks": {"early_stopping": {"patience": 2}},
}
VALIDATOR = jsonschema.Draft7Validator(recipe_json_schema())


def check(call) -> Recipe | None:
    """Run ``call``: a Recipe, or a KitError of one non-empty line (returns None then); anything else fails."""
    try:
        result = call()
    except KitError as error:
        message = str(error)
        assert message and "\n" not in message and "\r" not in message, message
        event("KitError")
        return None
    assert isinstance(result, Recipe)
    event("valid recipe")
    return result


def accepted(recipe: Recipe) -> None:
    """What the models accept is a finite, schema-valid recipe."""
    assert not list(VALIDATOR.iter_errors(recipe.content))
    numbers = [
        recipe.train.learning_rate,
        recipe.augment.rotation,
        *recipe.augment.colour,
        recipe.model.batch_norm_momentum,
    ]
    assert all(math.isfinite(number) for number in numbers)
    assert recipe.cv.seed * 1000 + recipe.cv.folds < 2**31


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), guesses, max_size=3))
def test_random_values_at_real_keys(overrides):
    base = parse_recipe(BASE, "fuzz")
    recipe = check(lambda: base.with_overrides(overrides))
    if recipe is not None:
        accepted(recipe)
        assert recipe.name == "fuzz"


INTEGERS = {"filters", "convs", "kernel", "strides", "units", "batch_size", "epochs", "folds", "seed", "patience"}
FRACTIONS = {
    "dropout",
    "head_dropout",
    "decay",
    "warmup",
    "start_factor",
    "final_factor",
    "weight_decay",
    "ema",
    "factor",
    "crop",
    "brightness",
    "contrast",
    "saturation",
    "hue",
}


def near(key: str) -> st.SearchStrategy:
    """Values of the right kind for a key, around and beyond its bounds."""
    leaf = key.rsplit(".", 1)[-1]
    if leaf in INTEGERS:
        return st.integers(min_value=-2, max_value=70_000) | st.sampled_from([1, 2, 3, 5, 8, 32])
    if leaf in FRACTIONS or "shift" in leaf or leaf in {"zoom", "label_smoothing", "batch_norm_momentum"}:
        return st.floats(min_value=-0.1, max_value=1.1) | st.sampled_from([0.0, 0.1, 0.5, 1.0, math.nan, math.inf])
    if leaf in {"learning_rate", "rotation", "min_delta"}:
        return st.floats(min_value=-1, max_value=200) | st.sampled_from([1e-3, 10.0, math.nan])
    return plausible


LEAVES = st.sampled_from([key for key in KEYS if "." in key])
changes = st.lists(LEAVES.flatmap(lambda key: near(key).map(lambda value: (key, value))), min_size=1, max_size=2)


@FUZZ
@given(changes.map(dict))
def test_plausible_changes_at_real_keys(overrides):
    """Values a recipe could hold, at its keys: many pass, and those must also pass the JSON Schema."""
    recipe = check(lambda: parse_recipe(BASE, "fuzz").with_overrides(overrides))
    if recipe is not None:
        accepted(recipe)


@FUZZ
@given(st.dictionaries(st.text(max_size=10) | st.sampled_from(KEYS), values, max_size=5))
def test_random_tables(table):
    recipe = check(lambda: parse_recipe(table, "fuzz"))
    if recipe is not None:
        accepted(recipe)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fuzz")
    (path / "parent.toml").write_text(tomli_w.dumps(BASE))
    return path


@FUZZ
@given(
    table=st.dictionaries(st.sampled_from(KEYS), guesses, max_size=3),
    extends=st.none()
    | st.sampled_from(["parent", "parent.toml", "./parent.toml", "nowhere", "../x.toml", "", "fuzz"])
    | st.text(max_size=12),
)
def test_random_recipe_files(folder, table, extends):
    content = copy.deepcopy(BASE)
    for key, value in table.items():
        with contextlib.suppress(KitError):  # a key with no place in this table: leave it out
            apply_overrides(content, {key: value})
    if extends is not None:
        content["extends"] = extends
    path = folder / "fuzz.toml"
    path.write_text(tomli_w.dumps(content), encoding="utf-8")
    recipe = check(lambda: load_recipe(str(path)))
    if recipe is not None:
        accepted(recipe)


@FUZZ
@given(st.text(max_size=60))
def test_random_recipe_text(folder, text):
    path = folder / "text.toml"
    path.write_text(text, encoding="utf-8")
    check(lambda: load_recipe(str(path)))


@FUZZ
@given(st.lists(st.sampled_from(KEYS).map(lambda key: key + "=") | st.text(max_size=20), max_size=3), st.data())
def test_random_set_items(items, data):
    items = [
        item + data.draw(st.text(max_size=12) | st.sampled_from(["3", "nan", "[1, 2]", "nearest"])) for item in items
    ]
    try:
        overrides = parse_set(items)
    except KitError as error:
        assert "\n" not in str(error)
        return
    assert isinstance(overrides, dict)
    check(lambda: parse_recipe(BASE, "fuzz").with_overrides(overrides))


def test_the_fuzzed_files_parse_as_written(folder):
    """The files the fuzz writes are real TOML (so the loader, not tomli_w, is what the fuzz tests)."""
    assert tomllib.loads((folder / "parent.toml").read_text()) == BASE
