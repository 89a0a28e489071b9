"""A finished run's fold models: loaded from the run folder (:func:`load_fold_models`) and their mean softmax computed
as one graph (:func:`infer`, ``kit.infer``, through :func:`kit.engine.compile_predictor`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kit.crossval._rundir import resolve_run
from kit.engine import PROBE_ROWS, compile_predictor
from kit.errors import KitError


@dataclass(frozen=True)
class Inference:
    """The test softmax of a run's fold models (their mean), and how fast it was computed."""

    run: Path
    softmax: np.ndarray
    engine: str
    precision: str
    models: int
    seconds: float
    fallback: str | None = None  # why "auto" fell back to Keras, if it did

    @property
    def labels(self) -> np.ndarray:
        return self.softmax.argmax(axis=1)

    @property
    def images_per_s(self) -> float:
        return len(self.softmax) / self.seconds if self.seconds > 0 else 0.0


def load_fold_models(run: Any, folds: Sequence[int] | None = None, compile: bool = False) -> list[Any]:
    """The saved models of a run folder's folds (all by default); ``compile`` restores their optimizer and metrics
    too (inference needs neither). For a snapshot-ensemble recipe (``[train.snapshots]``) a fold's model is its last
    snapshot, so it differs from the fold's voted test softmax."""
    from kit.utils import import_tensorflow

    import_tensorflow()
    import keras

    available = [score.fold for score in run.summary().folds]
    chosen = list(folds) if folds is not None else available
    missing = [fold for fold in chosen if fold not in available]
    if missing:
        raise KitError(f"run {run.root} has folds {available}, not {missing}", argument="folds")
    models = []
    for fold in chosen:
        path = run.fold_dir(fold) / "model.keras"
        if not path.is_file():
            raise KitError(f"{path}: not found; the fold models of run {run.root} are incomplete (kit cv --force)")
        models.append(keras.saving.load_model(path, compile=compile))
    return models


def infer(
    run: str | Path,
    images: np.ndarray | None = None,
    data_dir: str | Path | None = None,
    folds: Sequence[int] | None = None,
    engine: str = "auto",
    batch: int | None = None,
    threads: int | None = None,
    precision: str = "float32",
) -> Inference:
    """The mean softmax of a finished run's fold models on ``images`` (default: the run's test images, read from
    ``data_dir`` or the run's own data folder), computed as one graph (see :func:`compile_predictor`)."""
    folder = resolve_run(run)
    if images is None:
        images = folder.images("test", data_dir).images
    elif data_dir is not None:
        raise KitError("images and data_dir exclude each other; pass the images, or the folder to read them from")
    images = np.asarray(images)
    models = load_fold_models(folder, folds)
    expected = tuple(models[0].input_shape[1:])
    if tuple(images.shape[1:]) != expected:
        raise KitError(f"images: shape {tuple(images.shape)}, run {folder.root}'s models take (rows, {expected})")
    predictor = compile_predictor(models, engine, batch, threads, images[:PROBE_ROWS], precision)
    started = time.perf_counter()
    softmax = predictor(images)
    seconds = time.perf_counter() - started
    return Inference(
        folder.root, softmax, predictor.engine, predictor.precision, predictor.models, seconds, predictor.fallback
    )
