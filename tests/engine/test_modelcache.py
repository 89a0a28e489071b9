"""Model reuse from fold to fold (kit.engine._modelcache): a fold trained on the process's traced model gives the same
bits as one trained on a newly built model, for recipes with dropout, batch norm, EMA, weight decay, a one-cycle
schedule and ReduceLROnPlateau; a different recipe or fold size gets a model of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_recipe_toml
from kit.data import load_train
from kit.engine import _modelcache as modelcache
from kit.recipes import load_recipe

pytestmark = pytest.mark.slow

ONE_CYCLE = """[train.schedule]
kind = "one_cycle"
warmup = 0.2"""
PLATEAU = """[callbacks.reduce_lr_on_plateau]
patience = 1
factor = 0.5
min_delta = 0.5"""
SETTINGS = {
    "model.blocks.0.batch_norm": "before_activation",
    "train.optimizer": "adamw",
    "train.weight_decay": 0.01,
    "train.ema": 0.9,
}
VARIANTS = {"plain": ("", {}), "one-cycle AdamW, EMA, BN": (ONE_CYCLE, SETTINGS), "plateau": (PLATEAU, {})}


@pytest.fixture(scope="module")
def train(tiny_dir, competition):
    return load_train(tiny_dir, competition)


def recipe_of(tmp_path: Path, extra: str = "", **overrides):
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_recipe_toml("reuse test", epochs=3, dropout=0.25, extra=extra))
    return load_recipe(str(path)).with_overrides(overrides)


def folds(recipe, train, reuse: bool, count: int = 3):
    """Folds 1..count on rows split 150 / 50 differently per fold: (validation softmaxes, the models trained)."""
    from kit.crossval import FoldJob, train_fold

    rows = np.arange(len(train.images))
    out, models = [], []
    for fold in range(1, count + 1):
        if not reuse:
            modelcache.release()
        held = rows[(rows + fold) % 4 == 0]
        result = train_fold(FoldJob.of(recipe, fold, (np.setdiff1d(rows, held), held), 10), train)
        out.append(result.val_proba)
        models.append(modelcache._LOCAL.model)
    return out, models


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_reused_model_trains_to_the_same_bits_as_a_new_one(tmp_path, train, variant):
    extra, settings = VARIANTS[variant]
    recipe = recipe_of(tmp_path, extra, **settings)
    fresh, fresh_models = folds(recipe, train, reuse=False)
    modelcache.release()
    reused, reused_models = folds(recipe, train, reuse=True)
    assert len({id(model) for model in fresh_models}) == 3  # each fold had its own model …
    assert len({id(model) for model in reused_models}) == 1  # … or all shared one traced model
    for new, kept in zip(fresh, reused, strict=True):
        np.testing.assert_array_equal(new, kept)
    assert not np.array_equal(reused[0], reused[1])  # the folds did differ


def test_another_recipe_or_fold_size_gets_its_own_model(tmp_path, train):
    modelcache.release()
    recipe = recipe_of(tmp_path)
    key = modelcache.model_key(recipe, (28, 28, 1), 10, 150)
    assert modelcache.model_key(recipe.with_overrides({"cv.seed": 9}), (28, 28, 1), 10, 150) == key
    assert modelcache.model_key(recipe, (28, 28, 1), 10, 10_000) != key  # another schedule length
    assert modelcache.model_key(recipe.with_overrides({"train.learning_rate": 0.02}), (28, 28, 1), 10, 150) != key
    first = modelcache.fold_model(recipe, (28, 28, 1), 10, 150)
    assert modelcache.fold_model(recipe, (28, 28, 1), 10, 150) is first
    assert modelcache.fold_model(recipe.with_overrides({"model.dense.0.units": 16}), (28, 28, 1), 10, 150) is not first
    modelcache.release()
