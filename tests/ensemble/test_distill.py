"""Distillation: soft targets by hand, the stratified held-out part, the soft-label pipeline, and one tiny student
(1 epoch) trained end to end from two run folders built from arrays on the tiny data."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from test_ensemble import leaning_runs

from conftest import tiny_recipe_toml
from kit.ensemble import distill, soft_targets, soft_training_dataset
from kit.errors import KitError
from kit.recipes import AugmentSpec, load_recipe

pytestmark = pytest.mark.slow  # trains models or starts subprocesses


def test_soft_targets_mix_the_label_and_the_teacher():
    teacher = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    targets = soft_targets(np.array([0, 1]), teacher, alpha=0.25)
    assert targets == pytest.approx(np.array([[0.625, 0.225, 0.15], [0.075, 0.325, 0.6]]))
    assert targets.dtype == np.float32 and targets.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert soft_targets(np.array([2]), teacher[:1], alpha=1.0).tolist() == [[0.0, 0.0, 1.0]]


def test_soft_training_dataset_keeps_the_targets():
    images = np.arange(4 * 2 * 2, dtype=np.uint8).reshape(4, 2, 2, 1)
    targets = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]] * 0.5 + 0.5 / 3
    batches = list(soft_training_dataset(images, targets, 4, AugmentSpec(), seed=0).as_numpy_iterator())
    [(batch_images, batch_targets)] = batches
    order = [int(np.where((images.reshape(4, -1) == row).all(axis=1))[0][0]) for row in batch_images.reshape(4, -1)]
    assert batch_images.dtype == np.float32 and sorted(order) == [0, 1, 2, 3]
    assert batch_targets == pytest.approx(targets[order])


@pytest.fixture(scope="module")
def teachers(tmp_path_factory, tiny_dir, competition):
    """Two runs on the tiny data (real fingerprints, arrays instead of training): OOF softmaxes leaning to the truth."""
    folder = tmp_path_factory.mktemp("teachers")
    runs = leaning_runs(folder, tiny_dir, competition, seed=0)
    (folder / "tiny.toml").write_text(tiny_recipe_toml("a tiny student", batch_size=64))
    return runs, folder / "tiny.toml"


def test_distill_end_to_end(teachers, tmp_path, tiny_dir):
    runs, recipe = teachers
    out, subs = tmp_path / "student", tmp_path / "subs"
    result = distill(
        runs, load_recipe(str(recipe)), alpha=0.3, holdout=0.2, pseudo_threshold=0.9, out=out, submissions=subs
    )
    record = json.loads((out / "distill.json").read_text())
    assert record == result.record
    assert record["train_rows"] == 160 and record["holdout_rows"] == 40 and record["alpha"] == 0.3
    held = np.load(out / "holdout_rows.npy")
    assert len(held) == 40 and len(np.unique(held)) == 40
    ensemble_test = (np.load(runs[0] / "test.npy") + np.load(runs[1] / "test.npy")) / 2
    assert record["pseudo"] == {"threshold": 0.9, "rows": int((ensemble_test.max(axis=1) >= 0.9).sum())}
    assert 0 <= result.holdout_accuracy <= 1 and record["teacher"]["method"] == "equal soft vote"
    labels = np.load(runs[0] / "labels.npy")[held]
    teacher = (np.load(runs[0] / "oof.npy") + np.load(runs[1] / "oof.npy"))[held] / 2
    assert result.teacher_holdout_accuracy == pytest.approx(np.mean(teacher.argmax(axis=1) == labels))
    assert result.model_path.is_file() and np.load(out / "test.npy").shape == (40, 10)
    assert result.submission == subs / "student.csv"
    assert len(result.submission.read_text().splitlines()) == 41
    sidecar = json.loads(result.submission.with_suffix(".json").read_text())
    assert sidecar["weighting"] == "distilled" and sidecar["test_softmax"] == "student.npy"
    assert record["epochs"] == 1 and len(record["history"]["val_accuracy"]) == 1
    with pytest.raises(KitError, match=r"student: already holds a distilled model; pass force=True or out=\.\.\.$"):
        distill(runs, load_recipe(str(recipe)), out=out, submissions=subs)


def test_bad_arguments_fail_before_training(teachers, tmp_path):
    runs, recipe = teachers
    for options, message in (
        ({"alpha": 1.5}, r"^alpha: must be in \[0, 1\] .*, got 1.5$"),
        ({"holdout": 0.0}, r"^holdout: must be strictly between 0 and 1, e.g. 0.1, got 0.0$"),
        ({"pseudo_threshold": 1.5}, r"^pseudo_threshold: must be a probability in \(0, 1\], e.g. 0.99, got 1.5$"),
        ({"epochs": 0}, r"^epochs: must be at least 1, got 0"),
    ):
        with pytest.raises(KitError, match=message):
            distill(runs, load_recipe(str(recipe)), out=tmp_path / "x", **options)
    assert not (tmp_path / "x").exists()
    command = [sys.executable, "-m", "kit", "distill", *map(str, runs), "--recipe", str(recipe), "--alpha", "2"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: --alpha: must be in [0, 1] (1: true labels only, 0: the ensemble's softmax only), got 2.0"
    )
