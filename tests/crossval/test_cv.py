"""Stratified folds, a tiny end-to-end CV run, resume, --force, parallel folds and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import tiny_recipe_toml
from kit.competitions import softmax_scores
from kit.crossval import fold_splits, run_cv
from kit.errors import KitError
from kit.recipes import load_recipe
from kit.utils import Callback

TINY = tiny_recipe_toml(
    "a tiny CNN for tests",
    epochs=2,
    dropout=0.1,
    augment="rotation = 10.0\nzoom = 0.1",
    extra="[callbacks.reduce_lr_on_plateau]\npatience = 1\n",
)

pytestmark = pytest.mark.slow  # trains models or starts subprocesses


@pytest.fixture
def tiny_recipe(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return load_recipe(str(path))


def test_folds_are_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(10), 20)
    splits = fold_splits(labels, 5, seed=0)
    held_out = np.concatenate([val for _, val in splits])
    assert sorted(held_out) == list(range(200))
    for train, val in splits:
        assert np.bincount(labels[val]).tolist() == [4] * 10
        assert not set(train) & set(val)
    again = fold_splits(labels, 5, seed=0)
    other = fold_splits(labels, 5, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(splits, other))


def test_too_few_images_of_a_class_for_the_folds():
    with pytest.raises(KitError, match="cv.folds = 5 needs at least 5 images of every class; the rarest has 2"):
        fold_splits(np.array([0] * 10 + [1] * 2), 5, seed=0)


def test_softmax_scores_by_hand():
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    accuracy, loss = softmax_scores(proba, np.array([0, 1, 1]))
    assert accuracy == pytest.approx(2 / 3)
    assert loss == pytest.approx(-(np.log(0.9) + np.log(0.6) + np.log(0.3)) / 3)


class Recorder(Callback):
    def __init__(self):
        self.epochs, self.folds, self.begun, self.events = [], [], [], []

    def on_run_begin(self, kind, total=None, epochs=None):
        self.events.append(("begin", kind, total, epochs))

    def on_fold_begin(self, fold):
        self.begun.append(fold)

    def on_epoch_end(self, fold, epoch, logs):
        self.epochs.append((fold, epoch))

    def on_fold_end(self, score, resumed):
        self.folds.append((score.fold, resumed))

    def on_run_end(self):
        self.events.append(("end",))


def summary_of(result):
    return json.loads((result.path / "summary.json").read_text())


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_dir):
    folder = tmp_path_factory.mktemp("tiny-run")
    (folder / "tiny.toml").write_text(TINY)
    recipe = load_recipe(str(folder / "tiny.toml"))
    recorder = Recorder()
    result = run_cv(recipe, tiny_dir, out=folder / "run", callbacks=[recorder])
    return recipe, folder / "run", result, recorder


def test_cv_run_writes_the_run_folder(finished_run, tiny_dir):
    recipe, run, result, recorder = finished_run
    summary = summary_of(result)
    assert sorted(recorder.epochs) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert sorted(recorder.folds) == [(1, False), (2, False)] and sorted(recorder.begun) == [1, 2]
    assert recorder.events == [("begin", "cv", 2, 2), ("end",)]
    assert result.path == run and result.oof_accuracy == summary["oof_accuracy"]
    assert [score.val_accuracy for score in result.folds] == [fold["val_accuracy"] for fold in summary["folds"]]
    assert result.oof.shape == (200, 10) and result.test.shape == (40, 10) and result.labels.shape == (200,)
    assert result.recipe.content_hash == recipe.content_hash and result.overrides == {}
    assert summary["recipe"] == "tiny" and summary["recipe_hash"] == recipe.content_hash
    assert summary["data"] == {"train_rows": 200, "test_rows": 40, "image_shape": [28, 28, 1], "classes": 10}
    assert [fold["fold"] for fold in summary["folds"]] == [1, 2]
    assert all(fold["epochs"] == 2 and fold["seconds"] > 0 for fold in summary["folds"])
    oof, labels = np.load(run / "oof.npy"), np.load(run / "labels.npy")
    assert oof.shape == (200, 10) and np.allclose(oof.sum(axis=1), 1, atol=1e-4)
    assert summary["oof_accuracy"] == pytest.approx(np.mean(oof.argmax(1) == labels))
    accuracies = [fold["val_accuracy"] for fold in summary["folds"]]
    assert summary["fold_accuracy_std"] == pytest.approx(np.std(accuracies))
    test = np.load(run / "test.npy")
    folds_test = [np.load(run / f"fold-{k}" / "test_proba.npy") for k in (1, 2)]
    assert np.allclose(test, np.mean(folds_test, axis=0))
    for k in (1, 2):
        assert (run / f"fold-{k}" / "model.keras").stat().st_size > 0
        assert set(json.loads((run / f"fold-{k}" / "history.json").read_text())) >= {"loss", "val_accuracy"}
    assert not list(run.rglob("*.tmp"))


def test_rerun_skips_finished_folds_and_gives_the_same_summary(finished_run, tiny_dir):
    recipe, run, result, _ = finished_run
    summary = summary_of(result)
    model_time = (run / "fold-1" / "model.keras").stat().st_mtime_ns
    recorder = Recorder()
    again = run_cv(recipe, tiny_dir, out=run, callbacks=recorder)
    assert {k: v for k, v in summary_of(again).items() if k != "versions"} == {
        k: v for k, v in summary.items() if k != "versions"
    }
    assert recorder.epochs == [] and sorted(recorder.folds) == [(1, True), (2, True)]
    assert (run / "fold-1" / "model.keras").stat().st_mtime_ns == model_time


def test_interrupted_run_trains_only_the_missing_fold(finished_run, tiny_dir, tmp_path):
    recipe, run, result, _ = finished_run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "fold-2" / "fold.json").unlink()
    (copy / "summary.json").unlink()
    recorder = Recorder()
    resumed = run_cv(recipe, tiny_dir, out=copy, callbacks=[recorder])
    assert sorted(recorder.folds) == [(1, True), (2, False)]
    assert resumed.folds[1].val_accuracy == result.folds[1].val_accuracy  # deterministic given the seed
    assert resumed.oof_accuracy == result.oof_accuracy
    assert np.array_equal(resumed.oof, result.oof) and np.array_equal(resumed.test, result.test)


def test_another_recipe_in_the_same_folder_is_refused_then_forced(finished_run, tiny_dir, tmp_path):
    recipe, run, result, _ = finished_run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    summary = summary_of(result)
    changed = recipe.with_overrides({"train.epochs": 1})
    with pytest.raises(KitError, match="holds another run .its fold-1 differs in recipe hash, override train.epochs"):
        run_cv(changed, tiny_dir, out=copy, overrides={"train.epochs": 1})
    assert json.loads((copy / "summary.json").read_text()) == summary  # earlier results untouched
    forced = run_cv(changed, tiny_dir, out=copy, force=True, overrides={"train.epochs": 1})
    assert [score.epochs for score in forced.folds] == [1, 1] and forced.overrides == {"train.epochs": 1}


def test_parallel_folds_match_sequential_ones(finished_run, tiny_dir, tmp_path):
    recipe, _, result, _ = finished_run
    recorder = Recorder()
    parallel = run_cv(recipe, tiny_dir, out=tmp_path / "parallel", jobs=2, callbacks=[recorder])
    assert [f.val_accuracy for f in parallel.folds] == [f.val_accuracy for f in result.folds]
    assert parallel.oof_loss == pytest.approx(result.oof_loss, abs=1e-3)
    assert sorted(recorder.epochs) == [(1, 1), (1, 2), (2, 1), (2, 2)]  # relayed from the worker processes


def run_kit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kit", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_prints_fold_table_and_oof(tmp_path, tiny_dir):
    (tmp_path / "tiny.toml").write_text(TINY)
    done = run_kit(
        "cv", str(tmp_path / "tiny.toml"), "--data", str(tiny_dir), "--out", str(tmp_path / "run"), "--epochs", "1"
    )
    assert done.returncode == 0, done.stderr
    assert "val accuracy" in done.stdout and "OOF accuracy" in done.stdout
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["folds"][0]["epochs"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cv", "nope"], "error: recipe 'nope' not found"),
        (["cv", "demo", "--data", "{empty}"], "no competition.toml and not digit-recognizer's files"),
        (["cv", "demo", "--epochs", "0", "--data", "{empty}"], "recipe demo: key train.epochs: 0 must be ≥ 1"),
        (["cv", "demo", "--jobs", "0", "--data", "{tiny}"], "a whole number from 1 to 64, got 0"),
        (
            ["cv", "demo", "--holdout", "0.9", "--data", "{tiny}"],
            "--holdout: must be a share from 0 to 0.5 of the training rows, got 0.9",
        ),
        (["cv", "demo", "--set", "train.learning_rate=nan", "--data", "{tiny}"], "train.learning_rate"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, tiny_dir, args, message):
    args = [arg.format(empty=tmp_path, tiny=tiny_dir) for arg in args]
    done = run_kit(*args)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr
