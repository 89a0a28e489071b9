"""What the bench measures and on what: its K-fold splits of the data (:class:`BenchData`, one per fold, as ``kit cv``
splits), one pipeline's measurements over seeds (:class:`SeedRun`, :class:`Contender`), and the small meters —
steady training rate, inference rate, peak memory, the machine."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kit.competitions import Competition
from kit.errors import KitError
from kit.utils import cpu_has_bf16, import_tensorflow

VALIDATION_SHARE = 0.2
INFERENCE_ROWS = 28_000
ENSEMBLE_TARGET = 10_000  # issue 15: test images/s of a 5-fold run's models together
Curve = tuple[tuple[float, float], ...]  # (seconds since the fold began, accuracy) at each epoch end


@dataclass(frozen=True)
class BenchData:
    """The bench's stratified 80/20 split, and the images inference is timed on."""

    fit_images: np.ndarray
    fit_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    inference_images: np.ndarray
    source: str
    replicated: bool


@dataclass(frozen=True)
class SeedRun:
    """One seed of a pipeline: every fold trained once. ``curve`` holds, per epoch, the mean seconds since a fold
    began and the out-of-fold accuracy pooled over all ``predictions`` held-out rows; ``accuracy`` is the last."""

    seed: int
    accuracy: float
    predictions: int
    wall_seconds: float
    curve: Curve


@dataclass(frozen=True)
class Contender:
    """One training pipeline's measurements; ``curve`` holds (seconds since start, val accuracy) at each epoch end,
    ``matched_at`` the seconds it took to reach the notebook pipeline's final accuracy (None: never or not compared).

    Over several seeds, ``val_accuracy`` and ``wall_seconds`` are the medians of the seeds' pooled out-of-fold
    accuracy and mean fold time, ``curve`` the per-epoch medians, ``spread`` the (lowest, highest) seed accuracy.
    ``ensemble_images_per_s``: test images per second through all the folds' models of one seed, as one graph
    (:func:`kit.engine.compile_predictor`), run by ``ensemble_engine`` ("tflite" or "keras") in float32; the same
    quantized to int8 (``ensemble_int8_images_per_s``) and the share of images whose predicted class it keeps
    (``ensemble_int8_agreement``).
    """

    name: str
    val_accuracy: float
    wall_seconds: float
    train_images_per_s: float
    inference_images_per_s: float
    peak_rss_mib: float
    curve: Curve = ()
    matched_at: float | None = None
    seeds: tuple[SeedRun, ...] = ()
    spread: tuple[float, float] | None = None
    ensemble_images_per_s: float | None = None
    ensemble_engine: str | None = None
    ensemble_int8_images_per_s: float | None = None
    ensemble_int8_agreement: float | None = None

    def time_to(self, accuracy: float) -> float | None:
        """Seconds until the first epoch that reached ``accuracy``, or None if none did."""
        return next((seconds for seconds, reached in self.curve if reached >= accuracy), None)


def pooled(folds: Sequence[tuple[Curve, int]]) -> Curve:
    """One seed's curve from its folds' (curve, held-out rows): per epoch, the mean fold seconds and the accuracy
    over all held-out rows together (as out-of-fold predictions are scored), up to the shortest fold."""
    epochs = min(len(curve) for curve, _ in folds)
    rows = sum(count for _, count in folds)
    return tuple(
        (
            statistics.fmean(curve[epoch][0] for curve, _ in folds),
            sum(curve[epoch][1] * count for curve, count in folds) / rows,
        )
        for epoch in range(epochs)
    )


def median_curve(curves: Sequence[Curve]) -> Curve:
    """Per epoch, the median seconds and the median accuracy of several seeds' curves."""
    epochs = min(len(curve) for curve in curves)
    return tuple(
        (statistics.median(c[epoch][0] for c in curves), statistics.median(c[epoch][1] for c in curves))
        for epoch in range(epochs)
    )


def over_seeds(name: str, runs: Sequence[SeedRun], rates: Contender) -> Contender:
    """A pipeline's :class:`Contender` from its seeds; rates and memory come from ``rates`` (its first fold)."""
    accuracies = [run.accuracy for run in runs]
    curve = median_curve([run.curve for run in runs])
    return Contender(
        name=name,
        val_accuracy=round(statistics.median(accuracies), 6),
        wall_seconds=round(statistics.median(run.wall_seconds for run in runs), 3),
        train_images_per_s=rates.train_images_per_s,
        inference_images_per_s=rates.inference_images_per_s,
        peak_rss_mib=peak_rss_mib(),
        curve=tuple((round(seconds, 3), round(accuracy, 6)) for seconds, accuracy in curve),
        seeds=tuple(runs),
        spread=(min(accuracies), max(accuracies)),
        ensemble_images_per_s=rates.ensemble_images_per_s,
        ensemble_engine=rates.ensemble_engine,
        ensemble_int8_images_per_s=rates.ensemble_int8_images_per_s,
        ensemble_int8_agreement=rates.ensemble_int8_agreement,
    )


def peak_rss_mib() -> float:
    """Peak resident memory of this process, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    """The CPU (or GPU), core count and TensorFlow version, in words."""

    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    words = f"{os.cpu_count()}-core {cpu}" + (" with AVX-512 BF16" if cpu_has_bf16() else "")
    if gpus:
        words += f", {len(gpus)} GPU(s) {tf.config.experimental.get_device_details(gpus[0]).get('device_name', '')}"
    return f"{words}, TensorFlow {tf.__version__}"


def bench_data(data_dir: Path, competition: Competition, size: int | None, seed: int = 0) -> BenchData:
    """The notebook's split (stratified 80/20, ``random_state`` 0) of ``size`` rows of train.csv.

    Fewer rows than the file has are a stratified sample; more repeat the rows of each side of the split (so the
    validation rows never appear in training), which measures speed at full size but not accuracy.
    """
    from sklearn.model_selection import train_test_split

    from kit.data import load_test, load_train

    train = load_train(data_dir, competition)
    size = size or len(train)
    smallest = 10 * competition.classes
    if size < smallest:
        raise KitError.invalid("size", f"at least {smallest} rows ({competition.classes} classes)", size)
    rows = np.arange(len(train))
    if size < len(train):
        rows = train_test_split(rows, train_size=size, stratify=train.labels, random_state=seed)[0]
    fit, val = train_test_split(rows, test_size=VALIDATION_SHARE, stratify=train.labels[rows], random_state=seed)
    if size > len(train):
        val_rows = round(size * VALIDATION_SHARE)
        fit, val = np.resize(fit, size - val_rows), np.resize(val, val_rows)
    has_test = (Path(data_dir) / competition.test_file).is_file()
    pool = load_test(data_dir, competition).images if has_test else train.images[val]
    return BenchData(
        fit_images=train.images[fit],
        fit_labels=train.labels[fit],
        val_images=train.images[val],
        val_labels=train.labels[val],
        inference_images=np.resize(pool, (INFERENCE_ROWS, *pool.shape[1:])),
        source=str(data_dir),
        replicated=size > len(train),
    )


def fold_data(
    data_dir: Path, competition: Competition, size: int | None, folds: int, seed: int, inference: np.ndarray
) -> list[BenchData]:
    """The folds ``kit cv`` trains with ``cv.seed = seed`` (:func:`kit.crossval._run.fold_splits`) of ``size`` rows of
    train.csv (default all; fewer: a stratified sample; more: each side of every split repeated, for speed only)."""
    from sklearn.model_selection import train_test_split

    from kit.crossval import fold_splits
    from kit.data import load_train

    train = load_train(data_dir, competition)
    size = size or len(train)
    rows = np.arange(len(train))
    if size < len(train):
        rows = train_test_split(rows, train_size=size, stratify=train.labels, random_state=seed)[0]
    parts = []
    for fit, val in fold_splits(train.labels[rows], folds, seed):
        fit, val = rows[fit], rows[val]
        if size > len(train):
            val_rows = round(size / folds)
            fit, val = np.resize(fit, size - val_rows), np.resize(val, val_rows)
        parts.append(
            BenchData(
                fit_images=train.images[fit],
                fit_labels=train.labels[fit],
                val_images=train.images[val],
                val_labels=train.labels[val],
                inference_images=inference,
                source=str(data_dir),
                replicated=size > len(train),
            )
        )
    return parts


def steady_throughput(rows: int, curve: list[tuple[float, float]] | tuple[tuple[float, float], ...]) -> float:
    """Training images/s (validation passes included) over the epochs after the first, which also builds the graph."""
    if len(curve) < 2:
        return rows / curve[-1][0]
    return rows * (len(curve) - 1) / (curve[-1][0] - curve[0][0])


def inference_rate(predict: Callable[[np.ndarray], Any], images: np.ndarray, repeats: int = 3) -> float:
    """Images/s of ``predict`` on ``images``, after a small warm-up call: the median of ``repeats`` timed calls (on
    this shared machine single calls of the same graph ranged over ±15 %)."""
    predict(images[:256])
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(images)
        rates.append(len(images) / (time.perf_counter() - started))
    return float(np.median(rates))
