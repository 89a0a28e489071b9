"""Snapshot ensembles (train.snapshots): the recipe rules, the cosine schedule with warm restarts, the snapshot files
and their vote, and a tiny kit cv whose folds predict the mean of their snapshots — the same bits after a resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_recipe_toml
from kit.engine import (
    Snapshot,
    cycle_ends,
    finished_snapshots,
    load_snapshot,
    save_snapshot,
    snapshot_path,
    vote,
)
from kit.errors import KitError
from kit.recipes import load_recipe
from kit.utils import Callback

pytestmark = pytest.mark.slow  # trains models or starts subprocesses

SNAPSHOTS = "[train.snapshots]\ncount = 2"


def recipe_from(tmp_path: Path, text: str, name: str = "snap"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return load_recipe(str(path))


def tiny(tmp_path: Path, epochs: int = 2, extra: str = SNAPSHOTS):
    return recipe_from(tmp_path, tiny_recipe_toml("snapshot test", epochs=epochs, extra=extra))


@pytest.mark.parametrize(
    ("epochs", "extra", "message"),
    [
        (2, "[train.snapshots]\ncount = 1", r"key train.snapshots.count: 1 must be ≥ 2"),
        (21, "[train.snapshots]\ncount = 21", r"key train.snapshots.count: 21 must be ≤ 20"),
        (2, "[train.snapshots]\nfinal_factor = 0.1", r"key train.snapshots.count: missing; give the number"),
        (2, "[train.snapshots]\ncount = 2.0", r"key train.snapshots.count: expected an integer, got 2.0"),
        (2, "[train.snapshots]\ncount = 2\ncycles = 3", r"key train.snapshots.cycles: unknown key"),
        (
            5,
            "[train.snapshots]\ncount = 2",
            r"key train.snapshots.count: 2 snapshots need epochs a multiple of 2, got train.epochs = 5",
        ),
        (
            4,
            SNAPSHOTS + "\n[callbacks.early_stopping]\npatience = 1",
            r"key callbacks.early_stopping: cannot be combined with train.snapshots",
        ),
        (
            4,
            SNAPSHOTS + "\n[callbacks.reduce_lr_on_plateau]\npatience = 1",
            r"key callbacks.reduce_lr_on_plateau: cannot be combined with train.snapshots",
        ),
        (
            4,
            SNAPSHOTS + "\n[train.schedule]\nkind = 'cosine'",
            r"key train.snapshots: sets the learning rate .*schedule.kind = 'cosine' cannot",
        ),
    ],
)
def test_bad_snapshot_settings_fail_with_one_line(tmp_path, epochs, extra, message):
    with pytest.raises(KitError, match=message) as error:
        tiny(tmp_path, epochs=epochs, extra=extra)
    assert "\n" not in str(error.value)


def test_snapshot_settings_load_and_false_switches_them_off(tmp_path):
    recipe = tiny(tmp_path, epochs=6, extra="[train.snapshots]\ncount = 3\nfinal_factor = 0.1")
    assert recipe.train.snapshots.count == 3 and recipe.train.snapshots.final_factor == 0.1
    assert cycle_ends(recipe.train) == [2, 4, 6]
    child = recipe_from(tmp_path, 'extends = "snap"\n[train]\nsnapshots = false\n', name="child")
    assert child.train.snapshots is None and cycle_ends(child.train) == []
    assert child.content_hash != recipe.content_hash
    shipped = load_recipe("demo-snapshots")
    assert shipped.train.snapshots.count == 3 and shipped.train.epochs % 3 == 0
    assert shipped.callbacks.reduce_lr_on_plateau is None and shipped.callbacks.early_stopping is None


def test_the_learning_rate_restarts_at_every_cycle_and_anneals_within_it(tmp_path):
    from kit.engine import learning_rate

    recipe = tiny(tmp_path, epochs=6, extra="[train.snapshots]\ncount = 3\nfinal_factor = 0.1")
    per_epoch, peak = 50, recipe.train.learning_rate
    schedule = learning_rate(recipe.train, per_epoch)
    rates = np.array([float(schedule(step)) for step in range(6 * per_epoch)])
    cycle = 2 * per_epoch
    for start in range(0, 6 * per_epoch, cycle):
        assert rates[start] == pytest.approx(peak, rel=1e-6)  # a warm restart at each cycle's first step
        assert np.all(np.diff(rates[start : start + cycle]) < 0)  # annealed within the cycle
        assert rates[start + cycle - 1] == pytest.approx(peak * 0.1, rel=0.05)  # near learning_rate × final_factor
    assert np.allclose(rates[:cycle], rates[cycle : 2 * cycle]) and rates.min() >= peak * 0.1 * (1 - 1e-6)


def snapshot(cycle: int, rows: int = 4, seed: int = 0, test: bool = True) -> Snapshot:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(3), size=rows).astype(np.float32)
    return Snapshot(cycle, 2 * cycle, proba, proba[:2] if test else None, None)


SHAPES = {"val": (4, 3), "test": (2, 3), "holdout": None}


def test_snapshot_files_read_back_only_when_whole_of_this_identity_and_shape(tmp_path):
    identity = {"fold": 1, "recipe_hash": "abc"}
    kept = snapshot(1)
    path = save_snapshot(tmp_path, kept, identity)
    assert path == snapshot_path(tmp_path, 1) and not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    read = load_snapshot(tmp_path, 1, identity, SHAPES)
    assert read.epoch == 2 and np.array_equal(read.val, kept.val) and np.array_equal(read.test, kept.test)
    assert read.holdout is None and read.val.dtype == np.float32
    assert load_snapshot(tmp_path, 1, {"fold": 2, "recipe_hash": "abc"}, SHAPES) is None  # another fold's
    assert load_snapshot(tmp_path, 2, identity, SHAPES) is None  # none written
    assert load_snapshot(tmp_path, 1, identity, {**SHAPES, "val": (5, 3)}) is None  # other rows
    assert load_snapshot(tmp_path, 1, identity, {**SHAPES, "holdout": (1, 3)}) is None  # a part it lacks
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    assert load_snapshot(tmp_path, 1, identity, SHAPES) is None
    path.write_bytes(data[:200] + bytes(b ^ 0xFF for b in data[200:260]) + data[260:])  # flipped bytes
    assert load_snapshot(tmp_path, 1, identity, SHAPES) is None


def test_finished_snapshots_of_a_resumed_fit_fresh_start_and_damage(tmp_path):
    recipe = tiny(tmp_path, epochs=6, extra="[train.snapshots]\ncount = 3")  # cycles end after epochs 2, 4 and 6
    identity = {"fold": 1}
    for cycle in (1, 2):
        save_snapshot(tmp_path, snapshot(cycle, seed=cycle), identity)
    assert finished_snapshots(recipe.train, tmp_path, identity, 1, SHAPES) == []
    assert [s.cycle for s in finished_snapshots(recipe.train, tmp_path, identity, 3, SHAPES)] == [1]
    assert [s.cycle for s in finished_snapshots(recipe.train, tmp_path, identity, 6, SHAPES)] == [1, 2]
    assert finished_snapshots(recipe.train, None, None, None, SHAPES) == []  # no checkpoint folder: kept in memory
    snapshot_path(tmp_path, 2).write_bytes(b"not a zip")
    assert finished_snapshots(recipe.train, tmp_path, identity, 4, SHAPES) is None  # train the fold again
    assert not snapshot_path(tmp_path, 1).exists()  # and nothing of the old fit is left to vote
    save_snapshot(tmp_path, snapshot(1), identity)
    assert finished_snapshots(recipe.train, tmp_path, identity, None, SHAPES) == []  # a fresh start clears
    assert not snapshot_path(tmp_path, 1).exists()


def test_the_vote_is_the_mean_of_the_snapshots():
    members = [snapshot(1, seed=1), snapshot(2, seed=2, test=False)]
    val, test, holdout = vote(members)
    assert val.dtype == np.float32 and np.allclose(val, (members[0].val + members[1].val) / 2, atol=1e-7)
    assert test is None and holdout is None  # a part not every snapshot has is not voted


def test_importing_kit_snapshots_imports_neither_tensorflow_nor_keras():
    import subprocess
    import sys

    code = "import sys, kit.engine._snapshots; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == [
        "False",
        "False",
    ]


class Interrupt(Exception):
    """Raised at an epoch's end, before that epoch's snapshot and checkpoint are written, as a kill would."""


class StopAt(Callback):
    def __init__(self, fold: int, epoch: int):
        self.at = (fold, epoch)

    def on_epoch_end(self, fold, epoch, logs):
        if (fold, epoch) == self.at:
            raise Interrupt


class Epochs(Callback):
    def __init__(self):
        self.done: list[tuple[int, int]] = []

    def on_epoch_end(self, fold, epoch, logs):
        self.done.append((fold, epoch))


def run_arrays(run: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(run.glob("*.npy"))}


@pytest.fixture(scope="module")
def snapshot_run(tmp_path_factory, tiny_dir):
    """An uninterrupted 2-snapshot run (2 epochs, 2 folds, a 20 % hold-out), and a copy killed in fold 1's epoch 2."""
    from kit.crossval import run_cv

    folder = tmp_path_factory.mktemp("snapshots")
    recipe = tiny(folder)
    result = run_cv(recipe, tiny_dir, out=folder / "run", holdout=0.2)
    with pytest.raises(Interrupt):
        run_cv(recipe, tiny_dir, out=folder / "killed", holdout=0.2, callbacks=[StopAt(1, 2)])
    return recipe, folder, result


@pytest.mark.slow
def test_each_fold_predicts_the_mean_of_its_snapshots(snapshot_run, tiny_dir, competition):
    from kit.competitions import softmax_scores
    from kit.utils import prepare_tensorflow

    prepare_tensorflow(None)
    import keras

    import kit.engine._models  # noqa: F401  (kit's optimizers, registered for load_model)
    from kit.data import load_train
    from kit.engine import evaluation_dataset

    recipe, folder, result = snapshot_run
    run, killed = folder / "run", folder / "killed"
    record = json.loads((run / "fold-1" / "fold.json").read_text())
    assert record["snapshots"] == 2 and len(record["snapshot_val_accuracy"]) == 2
    # The first snapshot, as the killed copy left it (it was killed later); the last is the fold's saved model.
    first = np.load(killed / "fold-1" / "checkpoint" / "snapshots" / "snapshot-1.npz")
    rows, val_proba = np.load(run / "fold-1" / "val_rows.npy"), np.load(run / "fold-1" / "val_proba.npy")
    train = load_train(tiny_dir, competition)
    model = keras.saving.load_model(run / "fold-1" / "model.keras")
    batches = evaluation_dataset(train.images[rows], None, 10, recipe.train.batch_size)
    last = model.predict(batches, verbose=0)
    assert np.allclose(val_proba, (first["val"] + last) / 2, atol=1e-6)
    held = np.load(run / "holdout_rows.npy")
    assert first["holdout"].shape == (len(held), 10) and first["test"].shape == (40, 10)
    labels = train.labels[rows]
    accuracies = [softmax_scores(first["val"], labels)[0], softmax_scores(last, labels)[0]]
    assert record["snapshot_val_accuracy"] == pytest.approx(accuracies)
    assert record["val_accuracy"] == pytest.approx(softmax_scores(val_proba, labels)[0])  # the vote's accuracy
    assert result.folds[0].val_accuracy == pytest.approx(record["val_accuracy"])
    assert not np.array_equal(first["val"], last)  # two different members


@pytest.mark.slow
def test_a_killed_snapshot_fold_resumes_to_the_same_bits(snapshot_run, tiny_dir):
    from kit.crossval import run_cv

    recipe, folder, _ = snapshot_run
    killed = folder / "killed"
    assert (killed / "fold-1" / "checkpoint" / "snapshots" / "snapshot-1.npz").is_file()
    damaged = folder / "damaged"
    shutil.copytree(killed, damaged)
    epochs = Epochs()
    run_cv(recipe, tiny_dir, out=killed, holdout=0.2, callbacks=[epochs])  # fold 1 resumes after epoch 1
    assert sorted(epochs.done) == [(1, 2), (2, 1), (2, 2)]
    expected = run_arrays(folder / "run")
    assert "oof.npy" in expected and run_arrays(killed) == expected
    snapshot_path(damaged / "fold-1" / "checkpoint", 1).write_bytes(b"damaged")
    epochs = Epochs()
    run_cv(recipe, tiny_dir, out=damaged, holdout=0.2, callbacks=[epochs])  # fold 1 is trained again from its start
    assert sorted(epochs.done) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert run_arrays(damaged) == expected
    assert not (damaged / "fold-1" / "checkpoint").exists()


@pytest.mark.slow
def test_a_snapshot_under_ema_predicts_with_the_averaged_weights_and_training_goes_on_unchanged(tmp_path):
    from kit.utils import prepare_tensorflow

    prepare_tensorflow(None)
    import keras

    from kit.engine import averaged_weights, build_model

    recipe = tiny(tmp_path).with_overrides({"train.ema": 0.9})
    keras.utils.set_random_seed(0)
    model = build_model(recipe, (28, 28, 1), 10, train_rows=64)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 28, 28, 1)).astype("float32")
    model.fit(images, keras.utils.to_categorical(rng.integers(0, 10, 64), 10), batch_size=32, epochs=1, verbose=0)
    # fit ended on the averages: give the model training weights of its own again, then take a snapshot
    training = [variable.numpy() + 0.01 for variable in model.trainable_variables]
    for variable, value in zip(model.trainable_variables, training):
        variable.assign(value)
    averages = [average.numpy() for average in model.optimizer._model_variables_moving_average]
    with averaged_weights(model):
        inside = [variable.numpy() for variable in model.trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(inside, averages))
    assert all(np.array_equal(v.numpy(), t) for v, t in zip(model.trainable_variables, training))
