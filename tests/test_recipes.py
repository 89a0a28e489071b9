"""Recipe files: the shipped notebook models, inheritance, overrides and one-line errors."""

from __future__ import annotations

import pytest

from kit.errors import KitError
from kit.recipes import load_recipe


def write(folder, name, text):
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


MINIMAL = """
[[model.blocks]]
filters = 8
"""


def test_notebook_recipes_carry_the_notebook_numbers():
    base, deep, tuned = load_recipe("base"), load_recipe("deep"), load_recipe("tuned")
    assert [(b.filters, b.convs, b.dropout) for b in base.model.blocks] == [(32, 1, 0), (64, 1, 0), (128, 1, 0)]
    assert base.model.dense[0].units == 256 and base.train.optimizer == "adam" and base.train.batch_size == 32
    stop = base.callbacks.early_stopping
    assert (stop.min_delta, stop.patience, stop.restore_best_weights) == (0.001, 5, True)
    assert not base.augment.enabled and base.callbacks.reduce_lr_on_plateau is None
    assert [(b.convs, b.dropout) for b in deep.model.blocks] == [(2, 0.3)] * 3
    assert deep.train.optimizer == "rmsprop" and deep.train.batch_size == 128
    assert (deep.augment.rotation, deep.augment.zoom, deep.augment.width_shift, deep.augment.height_shift) == (10, 0.1, 0.1, 0.1)
    assert [b.dropout for b in tuned.model.blocks] + [tuned.model.dense[0].dropout] == [0.5, 0.4, 0.2, 0.1]
    assert tuned.model.dense[0].units == 512 and tuned.train.optimizer == "adam"
    assert tuned.callbacks.reduce_lr_on_plateau.patience == 3 and tuned.callbacks.reduce_lr_on_plateau.monitor == "val_accuracy"
    assert tuned.train.batch_size == 128 and tuned.augment == deep.augment


def test_extends_overrides_a_few_keys_and_list_items_by_index(tmp_path):
    write(tmp_path, "parent", MINIMAL + "[[model.blocks]]\nfilters = 16\ndropout = 0.2\n[train]\nepochs = 4\n")
    child = write(tmp_path, "child", 'extends = "parent"\n[model.blocks.1]\ndropout = 0.4\n[train]\nbatch_size = 8\n')
    recipe = load_recipe(str(child))
    assert recipe.name == "child"
    assert [(b.filters, b.dropout) for b in recipe.model.blocks] == [(8, 0.0), (16, 0.4)]
    assert (recipe.train.epochs, recipe.train.batch_size) == (4, 8)


def test_callback_can_be_switched_off_by_a_child(tmp_path):
    child = write(tmp_path, "quiet", 'extends = "tuned"\n[callbacks]\nreduce_lr_on_plateau = false\n')
    assert load_recipe(str(child)).callbacks.reduce_lr_on_plateau is None


def test_recipes_found_through_kit_recipes(tmp_path, monkeypatch):
    write(tmp_path, "mine", MINIMAL)
    monkeypatch.setenv("KIT_RECIPES", str(tmp_path))
    assert load_recipe("mine").model.blocks[0].filters == 8


def test_content_hash_tracks_training_content_only(tmp_path):
    one = load_recipe(str(write(tmp_path, "one", 'description = "a"\n' + MINIMAL)))
    two = load_recipe(str(write(tmp_path, "two", 'description = "b"\n' + MINIMAL)))
    assert one.content_hash == two.content_hash
    assert one.with_overrides({"train.epochs": 3}).content_hash != one.content_hash


def test_overrides_are_validated():
    recipe = load_recipe("tuned").with_overrides({"train.epochs": 2, "model.blocks.1.dropout": 0.25})
    assert recipe.train.epochs == 2 and recipe.model.blocks[1].dropout == 0.25
    with pytest.raises(KitError, match=r"recipe tuned: key train.epochs: 0 must be ≥ 1"):
        load_recipe("tuned").with_overrides({"train.epochs": 0})
    with pytest.raises(KitError, match=r"key model.blocks.7.dropout: '7' is not an index of a list of 3"):
        load_recipe("tuned").with_overrides({"model.blocks.7.dropout": 0.1})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL + "[train]\nepoch = 3\n", r"key train.epoch: unknown key \(known keys here: optimizer,"),
        (MINIMAL + "[train]\nepochs = 'ten'\n", r"key train.epochs: expected an integer, got 'ten'"),
        (MINIMAL + "[train]\nepochs = true\n", r"key train.epochs: expected an integer"),
        (MINIMAL + "[train]\noptimizer = 'adamax'\n", r"key train.optimizer: 'adamax' is not one of 'adam'"),
        (MINIMAL + "[train]\nlearning_rate = 0\n", r"key train.learning_rate: 0.0 must be > 0"),
        (MINIMAL + "[cv]\nfolds = 1\n", r"key cv.folds: 1 must be ≥ 2"),
        ("[[model.blocks]]\nfilters = 8\ndropout = 1.5\n", r"key model.blocks.0.dropout: 1.5 must be ≤ 0.95"),
        ("[[model.blocks]]\nconvs = 2\n", r"key model.blocks.0.filters: missing"),
        ("[train]\nepochs = 3\n", r"key model: missing"),
        (MINIMAL + "[callbacks.early_stopping]\npatience = -1\n", r"key callbacks.early_stopping.patience: -1 must be ≥ 0"),
        (MINIMAL + "[callbacks.early_stop]\npatience = 1\n", r"key callbacks.early_stop: unknown key"),
        (MINIMAL + "[augment]\nrotation = 'lots'\n", r"key augment.rotation: expected a number"),
        ("model = 3\n", r"key model: expected a table"),
        (MINIMAL + "[train\n", r"invalid TOML"),
        ('extends = "nowhere"\n' + MINIMAL, r"recipe 'nowhere' not found; known recipes: .*tuned"),
        ('extends = "self"\n', r"extends itself"),
        ('extends = 3\n', r"key extends must be a recipe name"),
    ],
)
def test_bad_recipes_fail_with_one_line_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, "self", text)
    with pytest.raises(KitError, match=message) as error:
        load_recipe(str(path))
    assert "\n" not in str(error.value)


def test_missing_recipe_file():
    with pytest.raises(KitError, match="recipe nowhere/x.toml: file not found"):
        load_recipe("nowhere/x.toml")
    with pytest.raises(KitError, match="recipe 'nope' not found; known recipes: .*base"):
        load_recipe("nope")
