"""Train one fold: build the recipe's model, fit it on the fold's training rows (resuming a checkpointed fit),
score it on the held-out rows, predict the test and hold-out rows; pure, so it runs in any process or worker."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kit.crossval._results import FoldScore
from kit.crossval._rundir import FoldResult
from kit.data import ImageSet
from kit.engine import resume_state
from kit.errors import KitError
from kit.recipes import Recipe
from kit.utils import prepare_tensorflow, softmax_scores

EpochReport = Callable[[int, int, dict[str, float]], None]


def FiniteLoss(fold: int) -> Any:
    """A callback that stops a fold whose loss becomes NaN or infinite, naming the fold and epoch; the fold's
    checkpoint is not written for that epoch, and nothing of the fold is kept."""
    import keras

    class FiniteLossGuard(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            for key in ("loss", "val_loss"):
                value = (logs or {}).get(key)
                if value is not None and not math.isfinite(float(value)):
                    raise KitError(
                        f"fold {fold}: {key} became {float(value)} at epoch {epoch + 1}; "
                        "lower train.learning_rate or check the data (nothing of this fold was kept)"
                    )

    return FiniteLossGuard()


def train_fold(
    recipe: Recipe,
    fold: int,
    rows: tuple[np.ndarray, np.ndarray],
    train: ImageSet,
    test: ImageSet | None,
    classes: int,
    report: EpochReport | None = None,
    threads: int | None = None,
    holdout: np.ndarray | None = None,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
    checkpoint: tuple[Path, Any] | None = None,
) -> FoldResult:
    """Train the recipe on one fold's training rows (plus ``extra`` (images, labels), e.g. pseudo-labelled test rows,
    never validated on) and score it on the held-out rows; pure, so it runs anywhere.

    ``checkpoint`` = (folder, identity): the training state is saved there after every epoch, and a fit killed
    midway resumes from its last finished epoch with the same final numbers.
    """
    prepare_tensorflow(threads, recipe.train.deterministic)
    import keras

    from kit.engine import build_callbacks, build_model, evaluation_dataset, fit_on_pipeline

    train_rows, val_rows = rows
    seed = recipe.cv.seed * 1000 + fold
    keras.utils.set_random_seed(seed)
    batch = recipe.train.batch_size
    images, labels = train.images[train_rows], train.labels[train_rows]
    if extra is not None:
        images, labels = np.concatenate([images, extra[0]]), np.concatenate([labels, extra[1]])
    own = build_callbacks(recipe)

    def builder() -> Any:  # a resumed model is rebuilt by the recipe, so AdamW's weight-decay exclusions hold
        return build_model(recipe, train.images.shape[1:], classes, train_rows=len(images), seed=seed)

    resumed = resume_state(*checkpoint, model_builder=builder) if checkpoint else None
    snapshots: list[Any] = []  # train.snapshots: the snapshots of the cycles finished before the last
    if recipe.train.snapshots is not None:
        from kit.engine import finished_snapshots

        shapes = {"val": (len(val_rows), classes), "test": None if test is None else (len(test.images), classes)}
        shapes["holdout"] = None if holdout is None or not len(holdout) else (len(holdout), classes)
        folder, identity = checkpoint or (None, None)
        found = finished_snapshots(recipe.train, folder, identity, resumed and resumed.epochs_done, shapes)
        if found is None:  # a snapshot file is missing or damaged: train the fold again from its start
            keras.utils.set_random_seed(seed)
            resumed, found = None, []
        snapshots = found
    if resumed:
        model = resumed.model
    else:  # this thread's traced model of the recipe with a fresh model's numbers (no tracing again)
        from kit.engine import fold_model

        model = fold_model(recipe, train.images.shape[1:], classes, train_rows=len(images), seed=seed)
    callbacks = [*own, FiniteLoss(fold)]
    if report is not None:
        callbacks.append(
            keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: report(fold, epoch + 1, dict(logs)))
        )

    def predict(part: np.ndarray) -> np.ndarray:
        proba = model.predict(evaluation_dataset(part, None, classes, batch), verbose=0).astype(np.float32)
        if not np.all(np.isfinite(proba)):
            raise KitError(f"fold {fold}: the model predicts non-finite probabilities; lower train.learning_rate")
        return proba

    def predict_all() -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The validation, test and hold-out rows' softmaxes (the evaluation of the final model or a snapshot)."""
        return (
            predict(train.images[val_rows]),
            None if test is None else predict(test.images),
            None if holdout is None or not len(holdout) else predict(train.images[holdout]),
        )

    if recipe.train.snapshots is not None:
        from kit.engine import SnapshotKeeper

        callbacks.append(SnapshotKeeper(recipe.train, predict_all, snapshots, *(checkpoint or ())))
    saver = None
    if checkpoint:
        from kit.engine import EpochCheckpoint

        saver = EpochCheckpoint(checkpoint[0], own, checkpoint[1], resume=resumed)
        callbacks.append(saver)  # last: it saves the state the others reached
    if report is not None:
        report(fold, 0, {})  # the fold begins
    initial_epoch = resumed.initial_epoch if resumed else 0
    started = time.perf_counter() - (resumed.seconds if resumed else 0.0)
    epochs = recipe.train.epochs
    validation = (train.images[val_rows], train.labels[val_rows])
    fitted = fit_on_pipeline(
        model, (images, labels), validation, classes, batch, recipe.augment, seed, epochs, callbacks, initial_epoch
    )
    val_proba, test_proba, holdout_proba = predict_all()
    voted = {}
    if recipe.train.snapshots is not None:  # the model after fit is the last snapshot; the fold predicts their mean
        from kit.engine import Snapshot, vote

        snapshots.append(Snapshot(len(snapshots) + 1, epochs, val_proba, test_proba, holdout_proba))
        scores = [softmax_scores(snapshot.val, train.labels[val_rows])[0] for snapshot in snapshots]
        voted = {"snapshots": len(snapshots), "snapshot_val_accuracy": scores}
        val_proba, test_proba, holdout_proba = vote(snapshots)
    seconds = time.perf_counter() - started
    accuracy, loss = softmax_scores(val_proba, train.labels[val_rows])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        model_bytes = path.read_bytes()
    logs = saver.history if saver is not None else fitted.history
    history = {key: [float(value) for value in values] for key, values in logs.items()}
    record = {
        "fold": fold,
        "epochs": len(history.get("loss", [])),
        "val_accuracy": accuracy,
        "val_loss": loss,
        **voted,
        "seconds": round(seconds, 2),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return FoldResult(
        fold=fold,
        val_rows=val_rows,
        val_proba=val_proba,
        test_proba=test_proba,
        history=history,
        record=record,
        model_bytes=model_bytes,
        holdout_proba=holdout_proba,
    )


def fold_score(result: FoldResult) -> FoldScore:
    record = result.record
    return FoldScore(
        fold=result.fold,
        epochs=int(record["epochs"]),
        val_accuracy=float(record["val_accuracy"]),
        val_loss=float(record["val_loss"]),
        seconds=float(record["seconds"]),
    )
