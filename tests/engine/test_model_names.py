"""What of a recipe reaches Keras safely: its name as a model name TensorFlow's name scopes take (the recipe keeps its
own), and its callbacks' monitor, one of the metrics kit's training logs."""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest

from kit.engine import build_callbacks, build_model
from kit.engine._models import TF_SCOPE_NAME, keras_name
from kit.engine._pipeline import fit_on_pipeline
from kit.recipes import load_recipe
from kit.recipes._files import list_recipes
from kit.recipes._schema import Monitor

TINY = """
[[model.blocks]]
filters = 2
pool = "none"
[model]
head = "global_avg"
[train]
epochs = 2
batch_size = 4
[callbacks.early_stopping]
monitor = "{monitor}"
patience = 1
[callbacks.reduce_lr_on_plateau]
monitor = "{monitor}"
patience = 1
"""


def tiny(tmp_path, name: str = "tiny", monitor: str = "val_loss"):
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.format(monitor=monitor), encoding="utf-8")
    return load_recipe(str(path))


def test_ordinary_names_keep_the_model_name_they_always_had():
    for entry in list_recipes():
        assert keras_name(entry.name) == entry.name.replace("-", "_")
    for name in ("tuned-search", "v1.2", "9x", "A_b-C"):
        assert keras_name(name) == name.replace("-", "_")


@pytest.mark.parametrize(
    ("name", "model_name"),
    [("réçipé✓", "recipe"), ("my recipe", "my_recipe"), ("_x", "recipe__x"), ("-x", "recipe__x"), ("✓", "recipe")],
)
def test_names_tensorflow_refuses_become_a_slug(name, model_name):
    assert keras_name(name) == model_name and TF_SCOPE_NAME.fullmatch(model_name)


def test_a_recipe_named_beyond_ascii_trains_and_keeps_its_name(tmp_path):
    recipe = tiny(tmp_path, name="réçipé✓")
    assert recipe.name == "réçipé✓"
    model = build_model(recipe, (6, 6, 1), 3, seed=0)
    assert model.name == "recipe"
    model.train_on_batch(np.zeros((4, 6, 6, 1)), np.eye(3)[[0, 1, 2, 0]])
    renamed = dataclasses.replace(recipe, name="my recipe")
    assert build_model(renamed, (6, 6, 1), 3, seed=0).name == "my_recipe"


def test_every_monitor_a_recipe_may_give_is_logged_and_judged_by_keras(tmp_path):
    monitors = typing.get_args(Monitor)
    images, labels = np.arange(8 * 36, dtype=np.uint8).reshape(8, 6, 6, 1), np.array([0, 1, 2, 0, 1, 2, 0, 1])
    recipe = tiny(tmp_path, monitor="val_accuracy")
    model = build_model(recipe, (6, 6, 1), 3, seed=0)
    history = fit_on_pipeline(model, (images, labels), (images[:4], labels[:4]), 3, 4, recipe.augment, 0, 2, [])
    assert set(monitors) <= set(history.history)  # kit's training logs every metric a recipe may monitor
    for monitor in monitors:  # and Keras can tell for each whether lower or higher is better (mode = "auto")
        callbacks = build_callbacks(tiny(tmp_path, monitor=monitor))
        assert [callback.monitor for callback in callbacks] == [monitor, monitor]
        for callback in callbacks:
            callback.set_model(model)
            callback.on_train_begin()
            for epoch in range(2):
                callback.on_epoch_end(epoch, {name: values[epoch] for name, values in history.history.items()})
