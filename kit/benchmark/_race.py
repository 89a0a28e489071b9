"""The bench's racers: one kit fold trained as `kit cv` trains it (:func:`kit_pipeline`), the inference rate of a
run's fold models as one graph (:func:`ensemble_rates`), and :func:`race`, which trains every fold of every seed of
a pipeline and pools them into its out-of-fold curves."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kit.benchmark._measure import (
    BenchData,
    Contender,
    SeedRun,
    inference_rate,
    over_seeds,
    peak_rss_mib,
    pooled,
    steady_throughput,
)
from kit.utils import CallbackList

if TYPE_CHECKING:
    from kit.recipes import Recipe


def kit_pipeline(
    recipe: Recipe,
    data: BenchData,
    classes: int,
    name: str,
    callbacks: CallbackList | None = None,
    fold: int = 1,
    infer: bool = True,
) -> tuple[Contender, bytes]:
    """The recipe trained as fold ``fold`` of a `kit cv` run is (:func:`kit.crossval.train_fold`) on one bench split,
    timed from before its model is built; with ``infer``, its inference rate on ``data.inference_images`` is timed
    as `kit cv` predicts (batches of ``train.batch_size``). Returns the measurements and the saved model."""
    from kit.crossval import FoldJob, train_fold
    from kit.data import ImageSet

    listeners = callbacks or CallbackList()
    images = np.concatenate([data.fit_images, data.val_images])
    labels = np.concatenate([data.fit_labels, data.val_labels])
    rows = (np.arange(len(data.fit_images)), np.arange(len(data.fit_images), len(images)))
    curve: list[tuple[float, float]] = []
    listeners.on_phase(name, 0, recipe.train.epochs)
    started = time.perf_counter()

    def stamp(fold: int, epoch: int, logs: Mapping[str, float]) -> None:
        if epoch == 0:  # the fold begins
            return
        curve.append((time.perf_counter() - started, float(logs["val_accuracy"])))
        listeners.on_phase(name, epoch, recipe.train.epochs)

    job = FoldJob.of(recipe, fold, rows, classes)
    result = train_fold(job, ImageSet(images, labels, np.arange(len(images))), None, stamp)
    rate = 0.0
    if infer:
        from kit.engine import evaluation_dataset

        model = load_models([result.model_bytes])[0]
        batch = recipe.train.batch_size
        rate = inference_rate(
            lambda part: model.predict(evaluation_dataset(part, None, classes, batch), verbose=0), data.inference_images
        )
    contender = Contender(
        name=name,
        val_accuracy=result.record["val_accuracy"],
        wall_seconds=curve[-1][0],
        train_images_per_s=steady_throughput(len(data.fit_images), curve),
        inference_images_per_s=rate,
        peak_rss_mib=peak_rss_mib(),
        curve=tuple(curve),
    )
    return contender, result.model_bytes


def load_models(saved: Iterable[bytes]) -> list[Any]:
    """Keras models from saved ``.keras`` bytes (uncompiled: for inference)."""
    import keras

    models = []
    with tempfile.TemporaryDirectory() as folder:
        for index, content in enumerate(saved):
            path = Path(folder) / f"model-{index}.keras"
            path.write_bytes(content)
            models.append(keras.saving.load_model(path, compile=False))
    return models


def ensemble_rates(saved: list[bytes], images: np.ndarray) -> dict[str, Any]:
    """Test images/s through all the fold models of one run at once, compiled as `kit predict --tta` and
    :func:`kit.infer` compile them (one graph averaging their softmax outputs, :func:`kit.engine.compile_predictor`):
    in float32 (and by which engine), and quantized to int8, with the share of predicted classes int8 keeps."""
    from kit.engine import PROBE_ROWS, compile_predictor

    models = load_models(saved)
    exact = compile_predictor(models, probe=images[:PROBE_ROWS])
    quantized = compile_predictor(models, probe=images[:PROBE_ROWS], precision="int8")
    rates: dict[str, Any] = {
        "ensemble_images_per_s": round(inference_rate(exact, images), 1),
        "ensemble_engine": exact.engine,
    }
    if quantized.engine == "tflite":  # else int8 fell back to Keras' float32: nothing quantized to report
        agreement = np.mean(exact(images).argmax(axis=1) == quantized(images).argmax(axis=1))
        rates["ensemble_int8_images_per_s"] = round(inference_rate(quantized, images), 1)
        rates["ensemble_int8_agreement"] = round(float(agreement), 6)
    return rates


def race(
    name: str,
    seeds: Iterable[int],
    splits: Callable[[int], list[BenchData]],
    train: Callable[[BenchData, int, int, bool], tuple[Contender, bytes | None]],
    listeners: CallbackList,
    ensemble: bool = False,
) -> Contender:
    """Train every fold of every seed with ``train(split, seed, fold, infer)`` and pool them: per seed, the
    out-of-fold curve over all held-out rows; over seeds, the medians. The first fold also times inference, and with
    ``ensemble`` the first seed's fold models are timed together as one graph."""
    runs, first, saved = [], None, []
    seeds = list(seeds)
    for seed_index, seed in enumerate(seeds):
        parts = splits(seed)
        total = len(seeds) * len(parts)
        folds = []
        for fold, part in enumerate(parts, start=1):
            listeners.on_phase(name, seed_index * len(parts) + fold - 1, total)
            measured, model = train(part, seed, fold, first is None)
            first = first or measured
            if ensemble and seed_index == 0 and model is not None:
                saved.append(model)
            folds.append((measured.curve, len(part.val_images)))
        listeners.on_phase(name, (seed_index + 1) * len(parts), total)
        curve = pooled(folds)
        rows = sum(count for _, count in folds)
        runs.append(SeedRun(seed, round(curve[-1][1], 6), rows, round(curve[-1][0], 3), curve))
    if saved:
        first = replace(first, **ensemble_rates(saved, parts[0].inference_images))
    return over_seeds(name, runs, first)
