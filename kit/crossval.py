"""Stratified K-fold cross-validation: split, train one fold, run all folds (in parallel via joblib), resume."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sklearn.model_selection import StratifiedKFold

from kit import __version__
from kit.cluster import dask_folds, visible_gpus
from kit.competitions import DEFAULT_COMPETITION, Competition, get_competition
from kit.data import ImageSet, load_test, load_train, resolve_data_dir
from kit.errors import KitError
from kit.recipes import Recipe
from kit.rundir import RUNS_DIR, FoldResult, RunFolder, save_array, write_json

EpochReport = Callable[[int, int, dict[str, float]], None]


class CVProgress(Protocol):
    """What a caller may watch: each finished epoch of a fold, and each fold as it is trained or resumed."""

    def on_epoch(self, fold: int, epoch: int, logs: dict[str, float]) -> None: ...

    def on_fold(self, result: FoldResult, resumed: bool) -> None: ...


def fold_splits(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled, seeded stratified (train rows, validation rows) pairs, one per fold."""
    counts = np.bincount(labels)
    smallest = int(counts[counts > 0].min()) if len(labels) else 0
    if smallest < folds:
        raise KitError(f"cv.folds = {folds} needs at least {folds} images of every class; the rarest has {smallest}")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def softmax_scores(proba: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of predicted class probabilities."""
    accuracy = float(np.mean(proba.argmax(axis=1) == labels))
    picked = np.clip(proba[np.arange(len(labels)), labels], 1e-7, 1.0)
    return accuracy, float(-np.mean(np.log(picked)))


def prepare_tensorflow(threads: int | None) -> None:
    """Make TensorFlow ops deterministic, quiet its retracing warnings (every fold builds a new model) and give a
    worker process ``threads`` threads (if not yet started)."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    tf.get_logger().setLevel("ERROR")
    if not threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:
        pass


def train_fold(
    recipe: Recipe,
    fold: int,
    rows: tuple[np.ndarray, np.ndarray],
    train: ImageSet,
    test: ImageSet | None,
    classes: int,
    report: EpochReport | None = None,
    threads: int | None = None,
) -> FoldResult:
    """Train the recipe on one fold's training rows and score it on the held-out rows; pure, so it runs anywhere."""
    prepare_tensorflow(threads)
    import keras

    from kit.models import build_callbacks, build_model
    from kit.pipeline import evaluation_dataset, training_dataset

    train_rows, val_rows = rows
    seed = recipe.cv.seed * 1000 + fold
    keras.utils.set_random_seed(seed)
    batch = recipe.train.batch_size
    model = build_model(recipe, train.images.shape[1:], classes, train_rows=len(train_rows))
    callbacks = build_callbacks(recipe)
    if report is not None:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: report(fold, epoch + 1, dict(logs))))
    started = time.perf_counter()
    fitted = model.fit(
        training_dataset(train.images[train_rows], train.labels[train_rows], classes, batch, recipe.augment, seed),
        validation_data=evaluation_dataset(train.images[val_rows], train.labels[val_rows], classes, batch),
        epochs=recipe.train.epochs,
        callbacks=callbacks,
        shuffle=False,
        verbose=0,
    )
    val_proba = model.predict(evaluation_dataset(train.images[val_rows], None, classes, batch), verbose=0)
    test_proba = None if test is None else model.predict(evaluation_dataset(test.images, None, classes, batch), verbose=0)
    seconds = time.perf_counter() - started
    accuracy, loss = softmax_scores(val_proba, train.labels[val_rows])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        model_bytes = path.read_bytes()
    history = {key: [float(value) for value in values] for key, values in fitted.history.items()}
    record = {
        "fold": fold,
        "epochs": len(history.get("loss", [])),
        "val_accuracy": accuracy,
        "val_loss": loss,
        "seconds": round(seconds, 2),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return FoldResult(
        fold=fold,
        val_rows=val_rows,
        val_proba=val_proba.astype(np.float32),
        test_proba=None if test_proba is None else test_proba.astype(np.float32),
        history=history,
        record=record,
        model_bytes=model_bytes,
    )


@contextmanager
def _epoch_relay(progress: CVProgress | None, parallel: bool) -> Iterator[EpochReport | None]:
    """An epoch reporter fit for worker processes: a manager queue drained into ``progress`` by a thread."""
    if progress is None:
        yield None
        return
    if not parallel:
        yield progress.on_epoch
        return
    from multiprocessing import Manager

    with Manager() as manager:
        queue = manager.Queue()

        def drain() -> None:
            while (item := queue.get()) is not None:
                progress.on_epoch(*item)

        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        try:
            yield lambda fold, epoch, logs: queue.put((fold, epoch, logs))
        finally:
            queue.put(None)
            thread.join(timeout=5)


def _run_identity(recipe: Recipe, train: ImageSet, test: ImageSet | None) -> dict[str, Any]:
    return {
        "recipe_hash": recipe.content_hash,
        "train_fingerprint": train.fingerprint(),
        "test_fingerprint": None if test is None else test.fingerprint(),
        "folds_total": recipe.cv.folds,
        "seed": recipe.cv.seed,
    }


def _finished_folds(run: RunFolder, identity: dict[str, Any], force: bool) -> dict[int, FoldResult]:
    """Folds already trained with the same recipe and data; a folder holding another run is refused."""
    if force:
        return {}
    finished = {}
    for fold in range(1, identity["folds_total"] + 1):
        result = run.load_fold(fold)
        if result is None:
            continue
        stale = [key for key, value in identity.items() if result.record.get(key) != value]
        if stale:
            raise KitError(
                f"{run.fold_dir(fold)} was trained with a different {stale[0].replace('_', ' ')}; "
                "rerun with --force to replace this run, or pick another --out folder"
            )
        finished[fold] = result
    return finished


def run_cv(
    recipe: Recipe,
    data_dir: Path | str | None = None,
    competition: Competition | str = DEFAULT_COMPETITION,
    out: Path | str | None = None,
    jobs: int = 1,
    force: bool = False,
    progress: CVProgress | None = None,
    cluster: str | None = None,
) -> dict[str, Any]:
    """Train every fold not already finished, then write oof.npy, test.npy and summary.json; return the summary.

    Folds run in ``jobs`` local processes (one per GPU when several GPUs are visible), or on the Dask scheduler at
    ``cluster`` (``tcp://HOST:8786``); the run folder is the same either way.
    """
    if isinstance(competition, str):
        competition = get_competition(competition)
    if jobs < 1:
        raise KitError(f"--jobs must be at least 1, got {jobs}")
    data_dir = resolve_data_dir(data_dir, competition)
    train = load_train(data_dir, competition)
    recipe.feature_maps(train.images.shape[1:])  # a kernel that does not fit the images fails here, before training
    test = load_test(data_dir, competition) if (Path(data_dir) / competition.test_file).is_file() else None
    run = RunFolder(Path(out) if out else RUNS_DIR / recipe.name)
    splits = fold_splits(train.labels, recipe.cv.folds, recipe.cv.seed)
    identity = _run_identity(recipe, train, test)
    results = _finished_folds(run, identity, force)
    for result in results.values():
        if progress:
            progress.on_fold(result, resumed=True)
    pending = [fold for fold in range(1, recipe.cv.folds + 1) if fold not in results]
    parallel = jobs > 1 and len(pending) > 1
    gpus = visible_gpus() if parallel and cluster is None else []
    on_dask = bool(pending) and (cluster is not None or len(gpus) > 1)
    threads = max(1, (os.cpu_count() or 1) // jobs) if parallel and not on_dask else None
    from joblib import Parallel, delayed

    if on_dask:
        relay = dask_folds(cluster, progress, scatter=(train, test), gpus=gpus, workers=min(jobs, len(pending)))
    else:
        relay = _epoch_relay(progress, parallel)
    with relay as report:
        outcomes = Parallel(n_jobs=min(jobs, max(1, len(pending))), return_as="generator_unordered")(
            delayed(train_fold)(recipe, fold, splits[fold - 1], train, test, competition.classes, report, threads)
            for fold in pending
        )
        for result in outcomes:
            result.record.update(identity)
            run.save_fold(result)
            results[result.fold] = result
            if progress:
                progress.on_fold(result, resumed=False)
    return _write_summary(run, recipe, competition, Path(data_dir), train, test, results, identity)


def _write_summary(
    run: RunFolder,
    recipe: Recipe,
    competition: Competition,
    data_dir: Path,
    train: ImageSet,
    test: ImageSet | None,
    results: dict[int, FoldResult],
    identity: dict[str, Any],
) -> dict[str, Any]:
    """Assemble the OOF and test softmaxes from the folds and write them with summary.json (last)."""
    ordered = [results[fold] for fold in sorted(results)]
    oof = np.zeros((len(train), competition.classes), dtype=np.float32)
    for result in ordered:
        oof[result.val_rows] = result.val_proba
    oof_accuracy, oof_loss = softmax_scores(oof, train.labels)
    fold_scores = [
        {key: result.record[key] for key in ("fold", "epochs", "val_accuracy", "val_loss", "seconds")} for result in ordered
    ]
    accuracies = [score["val_accuracy"] for score in fold_scores]
    save_array(run.oof_path, oof)
    save_array(run.root / "labels.npy", train.labels)
    if test is not None:
        save_array(run.test_path, np.mean([result.test_proba for result in ordered], axis=0).astype(np.float32))
        save_array(run.root / "test_ids.npy", test.ids)
    import keras
    import tensorflow as tf

    summary = {
        "recipe": recipe.name,
        **identity,
        "competition": competition.name,
        "data_dir": str(data_dir),
        "data": {
            "train_rows": len(train),
            "test_rows": 0 if test is None else len(test),
            "image_shape": list(train.images.shape[1:]),
            "classes": competition.classes,
        },
        "folds": fold_scores,
        "oof_accuracy": oof_accuracy,
        "oof_loss": oof_loss,
        "fold_accuracy_mean": float(np.mean(accuracies)),
        "fold_accuracy_std": float(np.std(accuracies)),
        "train_seconds": round(sum(score["seconds"] for score in fold_scores), 2),
        "finished_at": max(result.record["finished_at"] for result in ordered),
        "versions": {"kit": __version__, "tensorflow": tf.__version__, "keras": keras.__version__},
        "recipe_content": recipe.content,
    }
    write_json(run.summary_path, summary)
    return summary
