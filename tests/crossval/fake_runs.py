"""Fake finished run folders for the tests of run files: arrays, tiny untrained Keras fold models, the checksums a
finishing `kit cv` records, and the one-line check of an error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import minimal_summary
from kit.crossval import RunFolder
from kit.crossval._summary import file_checksums
from kit.utils import read_json, save_array, write_json

CLASSES = 3
SHAPE = (8, 8, 1)
OOF = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]], dtype=np.float32)
TEST = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=np.float32)
AUGMENTING = {"model": {"blocks": [{"filters": 4}]}, "augment": {"rotation": 10.0}}  # a recipe whose runs TTA augments


def one_line(error: pytest.ExceptionInfo, path: Path) -> str:
    """The error's message, checked to be one line that names ``path``."""
    message = str(error.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    return message


def tiny_model(classes: int = CLASSES, shape: tuple[int, ...] = SHAPE, activation: str = "softmax", hidden: int = 0):
    """A tiny untrained Keras model: flatten, an optional hidden layer, dense ``classes`` with ``activation``."""
    import keras

    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    if hidden:
        x = keras.layers.Dense(hidden, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation=activation)(x))


def record_checksums(folder: Path) -> None:
    """Add the checksums of the folder's files to its summary, as a finishing `kit cv` records them."""
    run = RunFolder(folder)
    content = read_json(run.summary_path, dict)
    write_json(run.summary_path, {**content, "checksums": file_checksums(run)})


def array_run(folder: Path, checksums: bool = True, labels=(0, 1, 2, 1)) -> Path:
    """A finished run folder of arrays (no models): oof, labels, test, test ids and a summary."""
    folder.mkdir(parents=True)
    save_array(folder / "oof.npy", OOF)
    save_array(folder / "labels.npy", np.asarray(labels))
    save_array(folder / "test.npy", TEST)
    save_array(folder / "test_ids.npy", np.arange(1, len(TEST) + 1))
    data = {"train_rows": len(OOF), "test_rows": len(TEST), "image_shape": list(SHAPE), "classes": CLASSES}
    content = minimal_summary(data=data, test_fingerprint="test-rows")
    write_json(RunFolder(folder).summary_path, content)
    if checksums:
        record_checksums(folder)
    return folder


def model_run(folder: Path, models: dict[int, object], checksums: bool = True, **changes) -> Path:
    """A finished run folder with fold models (``model.keras`` per fold) and nothing else."""
    run = RunFolder(folder)
    for fold, model in models.items():
        run.fold_dir(fold).mkdir(parents=True)
        model.save(run.fold_dir(fold) / "model.keras")
    data = {"train_rows": 4, "test_rows": 0, "image_shape": list(SHAPE), "classes": CLASSES}
    write_json(run.summary_path, minimal_summary(folds=tuple(models), data=data, **changes))
    if checksums:
        record_checksums(folder)
    return folder


def tta_run(folder: Path, model) -> Path:
    """A finished run whose recipe augments, with one finished fold (arrays and ``model``), for test-time
    augmentation."""
    run = RunFolder(folder)
    model_run(folder, {1: model}, checksums=False, recipe_content=AUGMENTING)
    save_array(folder / "oof.npy", OOF)
    save_array(folder / "labels.npy", np.array([0, 1, 2, 1]))
    save_array(folder / "test.npy", TEST)
    save_array(folder / "test_ids.npy", np.arange(1, 3))
    content = read_json(run.summary_path, dict)
    content["data"] = {"train_rows": 4, "test_rows": 2, "image_shape": list(SHAPE), "classes": CLASSES}
    write_json(run.summary_path, {**content, "test_fingerprint": "test-rows"})
    save_array(run.fold_dir(1) / "val_rows.npy", np.arange(4))
    save_array(run.fold_dir(1) / "val_proba.npy", OOF)
    write_json(run.fold_dir(1) / "history.json", {"loss": [1.0]})
    write_json(run.fold_dir(1) / "fold.json", {"fold": 1, **run.summary().identity})
    record_checksums(folder)
    return folder
