"""Mid-fold resume: a fit interrupted after an epoch and resumed from its checkpoint ends with the same bits as one
that never stopped; damaged checkpoints are ignored."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_recipe_toml
from kit.data import load_train
from kit.engine import STATE_FILE, clean_temporary, resume_state
from kit.recipes import load_recipe

pytestmark = pytest.mark.slow  # trains models or starts subprocesses

AUGMENT = "rotation = 10.0\nzoom = 0.1\nwidth_shift = 0.1\nheight_shift = 0.1"
PLATEAU = """[callbacks.reduce_lr_on_plateau]
patience = 1
factor = 0.5
min_delta = 0.5
[callbacks.early_stopping]
patience = 3
restore_best_weights = true"""
STOPS_AT_2 = """[callbacks.early_stopping]
patience = 0
min_delta = 10.0
restore_best_weights = true"""
IDENTITY = {"fold": 1, "recipe": "tiny"}


class Interrupt(Exception):
    """Raised by a callback after an epoch, as a kill would end the fit."""


@pytest.fixture(scope="module")
def train(tiny_dir, competition):
    return load_train(tiny_dir, competition)


def recipe_of(tmp_path: Path, epochs: int, extra: str = "", overrides: dict | None = None):
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_recipe_toml("checkpoint test", epochs=epochs, dropout=0.25, augment=AUGMENT, extra=extra))
    return load_recipe(str(path)).with_overrides(overrides or {})


def fit(recipe, train, folder: Path | None = None, interrupt_after: int | None = None):
    """Train on rows 0–149 and score rows 150–199, as kit's train_fold does with checkpoints; return the final
    weights, validation softmax and full history."""
    from kit.utils import prepare_tensorflow

    prepare_tensorflow(None)
    import keras

    from kit.engine import (
        EpochCheckpoint,
        build_callbacks,
        build_model,
        evaluation_dataset,
        training_dataset,
        validation_dataset,
    )

    rows, held_out, batch, seed = np.arange(150), np.arange(150, 200), recipe.train.batch_size, 5
    keras.utils.set_random_seed(seed)

    def builder():
        return build_model(recipe, train.images.shape[1:], 10, train_rows=len(rows))

    state = resume_state(folder, IDENTITY, builder) if folder else None
    model = state.model if state else builder()
    start = state.initial_epoch if state else 0
    callbacks = build_callbacks(recipe)
    data, per_epoch = training_dataset(
        train.images[rows], train.labels[rows], 10, batch, recipe.augment, seed, start, recipe.train.epochs
    )
    val, val_steps = validation_dataset(train.images[held_out], train.labels[held_out], 10, batch)
    extra = [EpochCheckpoint(folder, callbacks, IDENTITY, resume=state)] if folder else []
    if interrupt_after:

        def interrupt(epoch, logs):
            if epoch + 1 == interrupt_after:
                raise Interrupt

        extra.append(keras.callbacks.LambdaCallback(on_epoch_end=interrupt))
    fitted = model.fit(
        data,
        steps_per_epoch=per_epoch,
        validation_data=val,
        validation_steps=val_steps,
        epochs=recipe.train.epochs,
        initial_epoch=start,
        callbacks=[*callbacks, *extra],
        shuffle=False,
        verbose=0,
    )
    proba = model.predict(evaluation_dataset(train.images[held_out], None, 10, batch), verbose=0)
    history = {key: [float(value) for value in values] for key, values in fitted.history.items()}
    history = extra[0].history if folder else history
    return model.get_weights(), proba, history


def interrupted_then_resumed(recipe, train, folder: Path, after: int):
    with pytest.raises(Interrupt):
        fit(recipe, train, folder, interrupt_after=after)
    assert (folder / STATE_FILE).is_file() and json.loads((folder / STATE_FILE).read_text())["epochs_done"] == after
    return fit(recipe, train, folder)


def assert_same(expected, actual):
    (weights, proba, history), (weights_again, proba_again, history_again) = expected, actual
    assert len(weights) == len(weights_again)
    assert all(np.array_equal(a, b) for a, b in zip(weights, weights_again))
    assert np.array_equal(proba, proba_again)
    assert history == history_again


@pytest.mark.slow
@pytest.mark.parametrize(
    "epochs, after, extra, overrides",
    [
        (4, 2, PLATEAU, {}),  # augmentation, dropout, ReduceLROnPlateau lowering the rate, EarlyStopping's best weights
        (3, 1, "", {"train.optimizer": "adamw", "train.ema": 0.9, "train.schedule": {"kind": "one_cycle"}}),
    ],
    ids=["plateau-early-stopping", "adamw-ema-one-cycle"],
)
def test_a_resumed_fit_ends_with_the_same_bits_as_an_uninterrupted_one(
    tmp_path, train, epochs, after, extra, overrides
):
    recipe = recipe_of(tmp_path, epochs, extra, overrides)
    uninterrupted = fit(recipe, train)
    assert len(uninterrupted[2]["loss"]) == epochs
    if extra == PLATEAU:
        assert uninterrupted[2]["learning_rate"][-1] < uninterrupted[2]["learning_rate"][0]  # the plateau acted
    assert_same(uninterrupted, interrupted_then_resumed(recipe, train, tmp_path / "checkpoint", after))
    assert sorted(path.name for path in (tmp_path / "checkpoint").iterdir())[-1] == STATE_FILE  # no temporary left


@pytest.mark.slow
def test_a_fit_that_had_stopped_early_only_finishes_when_resumed(tmp_path, train):
    recipe = recipe_of(tmp_path, 4, STOPS_AT_2)
    uninterrupted = fit(recipe, train)
    assert len(uninterrupted[2]["loss"]) == 2  # EarlyStopping ended it after epoch 2 of 4
    folder = tmp_path / "checkpoint"
    with pytest.raises(Interrupt):
        fit(recipe, train, folder, interrupt_after=2)
    state = resume_state(folder, IDENTITY)
    assert state is not None and state.stopped and state.epochs_done == 2 and state.initial_epoch == 4
    assert_same(uninterrupted, fit(recipe, train, folder))  # best weights restored, nothing trained past the stop


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, train) -> Path:
    """A checkpoint folder after 1 of 2 epochs, with EarlyStopping best weights."""
    folder = tmp_path_factory.mktemp("checkpointed")
    recipe = recipe_of(folder, 2, STOPS_AT_2)
    with pytest.raises(Interrupt):
        fit(recipe, train, folder / "checkpoint", interrupt_after=1)
    return folder / "checkpoint"


@pytest.mark.slow
def test_the_checkpoint_folder_holds_one_checkpoint_and_reads_back(checkpoint, tmp_path):
    assert sorted(path.name for path in checkpoint.iterdir()) == ["best-00001.npz", "model-00001.keras", STATE_FILE]
    state = resume_state(checkpoint, IDENTITY)
    assert state.initial_epoch == 1 and not state.stopped
    assert list(state.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert state.model.optimizer.iterations.numpy() == 5  # 150 rows in batches of 32
    assert resume_state(tmp_path / "nothing", IDENTITY) is None
    assert resume_state(checkpoint, {"fold": 2, "recipe": "tiny"}) is None  # another fold's or run's checkpoint


def damage_truncate(folder: Path, name: str) -> None:
    path = folder / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def edit_state(folder: Path, change) -> None:
    state = json.loads((folder / STATE_FILE).read_text())
    change(state)
    (folder / STATE_FILE).write_text(json.dumps(state))


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: damage_truncate(folder, "model-00001.keras"),
        lambda folder: damage_truncate(folder, STATE_FILE),
        lambda folder: damage_truncate(folder, "best-00001.npz"),
        lambda folder: (folder / "model-00001.keras").unlink(),
        lambda folder: (folder / STATE_FILE).write_text("[]"),
        lambda folder: (folder / STATE_FILE).write_text('{"format": 1}'),
        lambda folder: (folder / STATE_FILE).write_bytes(b"\xff\xfe garbage"),
        lambda folder: edit_state(folder, lambda state: state.update(epochs_done="x")),
        lambda folder: edit_state(folder, lambda state: state["callbacks"][0].pop("wait")),
        lambda folder: edit_state(folder, lambda state: state.update(random_states=[])),
    ],
    ids=[
        "model-truncated",
        "state-truncated",
        "best-truncated",
        "model-missing",
        "state-list",
        "state-partial",
        "state-binary",
        "epochs-text",
        "callback-state-missing",
        "random-states-missing",
    ],
)
def test_a_damaged_checkpoint_is_ignored_and_its_temporaries_removed(checkpoint, tmp_path, damage):
    folder = tmp_path / "copy"
    shutil.copytree(checkpoint, folder)
    (folder / ".kit-tmp-0a1b2c3d-model-00002.keras").write_bytes(b"half a model")
    (folder / ".kit-tmp-abc123-state.json").write_bytes(b"{")
    damage(folder)
    assert resume_state(folder, IDENTITY) is None
    assert not [path for path in folder.iterdir() if path.name.startswith(".")]


def test_clean_temporary_keeps_the_checkpoint_and_files_kit_did_not_write(tmp_path):
    (tmp_path / ".kit-tmp-x-state.json").write_text("")
    (tmp_path / ".x.tmp").write_text("")  # a dot-file of someone else's: not kit's to remove
    (tmp_path / STATE_FILE).write_text("{}")
    assert [path.name for path in clean_temporary(tmp_path)] == [".kit-tmp-x-state.json"]
    assert sorted(path.name for path in tmp_path.iterdir()) == [".x.tmp", STATE_FILE]


def test_importing_kit_checkpoint_imports_neither_tensorflow_nor_keras():
    code = "import sys, kit.engine._checkpoint; print(sorted({'tensorflow', 'keras'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
