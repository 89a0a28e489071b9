"""Train one fold: build the recipe's model, fit it on the fold's training rows (resuming a checkpointed fit),
score it on the held-out rows, predict the test and hold-out rows; pure, so it runs in any process or worker.

A fold is a value, :class:`FoldJob`: the recipe, the rows, the seed, the checkpoint folder… (everything but the
images, which a cluster ships once for all folds); :func:`train_fold` trains one, wherever it was sent.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kit.competitions import softmax_scores
from kit.crossval._results import FoldScore
from kit.crossval._rundir import FoldResult
from kit.data import ImageSet, join_rows, take_rows
from kit.engine import resume_state
from kit.errors import KitError
from kit.recipes import Recipe
from kit.utils import prepare_tensorflow
from kit.utils._io import TEMP_PREFIX, os_error

EpochReport = Callable[[int, int, dict[str, float]], None]
Predictions = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]  # (validation, test, hold-out) softmaxes
# A fold of a multi-label task (its labels a 0/1 matrix, rows × labels) trains sigmoid outputs on binary cross-entropy
# and its predictions are rows × labels independent probabilities, scored as the metrics score a 2-D truth.


@dataclass(frozen=True, eq=False)
class FoldJob:
    """Everything one fold needs to train, but the images: the train (and test) :class:`~kit.data.ImageSet` travel
    beside it, so that a cluster can send them to its workers once for every fold. It pickles (worker processes and
    Dask workers receive it); build it with :meth:`of`.

    ``holdout_rows`` (train rows kept out of every fold) are predicted, never trained on; ``pseudo_rows`` (test rows)
    with ``pseudo_labels`` are added to the training rows, never validated on; with ``checkpoint`` (a folder) the
    training state is saved there after every epoch under ``identity``, and a fit killed midway resumes from its last
    finished epoch with the same final numbers."""

    recipe: Recipe
    fold: int
    train_rows: np.ndarray = field(repr=False)
    val_rows: np.ndarray = field(repr=False)
    classes: int
    seed: int
    holdout_rows: np.ndarray | None = field(default=None, repr=False)
    pseudo_rows: np.ndarray | None = field(default=None, repr=False)
    pseudo_labels: np.ndarray | None = field(default=None, repr=False)
    threads: int | None = None
    checkpoint: Path | None = None
    identity: Any = None

    @classmethod
    def of(
        cls,
        recipe: Recipe,
        fold: int,
        rows: tuple[np.ndarray, np.ndarray],
        classes: int,
        *,
        holdout: np.ndarray | None = None,
        pseudo: tuple[np.ndarray, np.ndarray] | None = None,
        threads: int | None = None,
        checkpoint: tuple[Path, Any] | None = None,
    ) -> FoldJob:
        """Fold ``fold`` (1-based) of ``recipe`` on ``rows`` = (train rows, validation rows); ``pseudo`` = (test
        rows, their labels); ``checkpoint`` = (folder, identity). Its seed is ``train.seed * 1000 + fold``
        (``train.seed`` defaults to ``cv.seed``, which also places the folds)."""
        folder, identity = checkpoint or (None, None)
        return cls(
            recipe=recipe,
            fold=fold,
            train_rows=rows[0],
            val_rows=rows[1],
            classes=classes,
            seed=(recipe.cv.seed if recipe.train.seed is None else recipe.train.seed) * 1000 + fold,
            holdout_rows=holdout,
            pseudo_rows=None if pseudo is None else pseudo[0],
            pseudo_labels=None if pseudo is None else pseudo[1],
            threads=threads,
            checkpoint=None if folder is None else Path(folder),
            identity=identity,
        )

    @property
    def holdout(self) -> np.ndarray | None:
        """The hold-out rows to predict, None when there are none."""
        return None if self.holdout_rows is None or not len(self.holdout_rows) else self.holdout_rows


Runner = Callable[[Iterable[FoldJob]], Iterator[FoldResult]]  # trains the jobs, yielding results as they finish


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


def FoldProgress(fold: int, report: EpochReport, resumed_at: int = 0, epochs: int = 0) -> Any:
    """A callback that tells ``report`` the fold began (epoch 0, when the fit begins; a fit resumed from its
    checkpoint after ``resumed_at`` of ``epochs`` epochs says so in that report's logs) and every epoch it finished."""
    import keras

    class FoldProgressReport(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            report(fold, 0, {"resumed_at": resumed_at, "epochs": epochs} if resumed_at else {})

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            report(fold, epoch + 1, dict(logs))

    return FoldProgressReport()


def train_fold(
    job: FoldJob, train: ImageSet, test: ImageSet | None = None, report: EpochReport | None = None
) -> FoldResult:
    """Train ``job``'s fold on ``train``'s rows (``test`` gives the test rows to predict and the pseudo-labelled
    rows) and score it on its held-out rows; ``report`` hears of its epochs. Pure, so it runs anywhere."""
    recipe = job.recipe
    prepare_tensorflow(job.threads, recipe.train.deterministic)
    import keras

    from kit.engine import build_callbacks, fit_on_pipeline

    keras.utils.set_random_seed(job.seed)
    images, labels = _training_part(job, train, test)
    own = build_callbacks(recipe)
    resumed, snapshots = _resume(job, train, test, len(images))
    model = resumed.model if resumed else _fresh_model(job, train, len(images))
    predict_all = _predictor(job, model, train, test)
    callbacks = [*own, FiniteLoss(job.fold), *_fold_callbacks(job, own, report, predict_all, snapshots, resumed)]
    started = time.perf_counter() - (resumed.seconds if resumed else 0.0)
    validation = (take_rows(train.images, job.val_rows), train.labels[job.val_rows])  # lazy above the budget
    initial_epoch = resumed.initial_epoch if resumed else 0
    batch, epochs = recipe.train.batch_size, recipe.train.epochs
    fitted = fit_on_pipeline(
        model,
        (images, labels),
        validation,
        job.classes,
        batch,
        recipe.augment,
        job.seed,
        epochs,
        callbacks,
        initial_epoch,
    )
    predictions, voted = _final_predictions(job, predict_all(), snapshots, train.labels[job.val_rows])
    seconds = time.perf_counter() - started
    saver = callbacks[-1] if job.checkpoint is not None else None  # the epoch checkpoint holds every epoch's logs
    history = {key: [float(value) for value in values] for key, values in (saver or fitted).history.items()}
    return _fold_result(job, model, predictions, history, voted, seconds, train.labels[job.val_rows])


def _training_part(job: FoldJob, train: ImageSet, test: ImageSet | None) -> tuple[np.ndarray, np.ndarray]:
    """The fold's training (images, labels): its training rows, then its pseudo-labelled test rows."""
    images, labels = take_rows(train.images, job.train_rows), train.labels[job.train_rows]
    if job.pseudo_rows is not None:
        if test is None:
            raise KitError(f"fold {job.fold}: pseudo-labelled rows need the test images")
        if np.ndim(job.pseudo_labels) != labels.ndim:
            task = "multi-label" if labels.ndim == 2 else "single-label"
            raise KitError(f"the pseudo-labels are not of this {task} task; pseudo-label with runs of this data")
        images = join_rows(images, take_rows(test.images, job.pseudo_rows))
        labels = np.concatenate([labels, job.pseudo_labels])
    return images, labels


def _fresh_model(job: FoldJob, train: ImageSet, rows: int) -> Any:
    """This thread's traced model of the recipe with a fresh model's numbers (no tracing again); sigmoid outputs
    where the labels are a 0/1 matrix (multi-label)."""
    from kit.engine import fold_model

    shape, multilabel = train.images.shape[1:], train.labels.ndim == 2
    return fold_model(job.recipe, shape, job.classes, train_rows=rows, seed=job.seed, multilabel=multilabel)


def _resume(job: FoldJob, train: ImageSet, test: ImageSet | None, rows: int) -> tuple[Any, list[Any]]:
    """(the checkpointed training state to resume from, the snapshots it had taken): (None, []) to start afresh;
    with ``train.snapshots``, a missing or damaged snapshot file also starts the fold again (seeds reset)."""
    import keras

    resumed = None
    if job.checkpoint is not None:

        def builder() -> Any:  # a resumed model is rebuilt by the recipe, so AdamW's weight-decay exclusions hold
            from kit.engine import build_model

            shape, multilabel = train.images.shape[1:], train.labels.ndim == 2
            return build_model(job.recipe, shape, job.classes, train_rows=rows, seed=job.seed, multilabel=multilabel)

        resumed = resume_state(job.checkpoint, job.identity, model_builder=builder)
    if job.recipe.train.snapshots is None:
        return resumed, []
    from kit.engine import finished_snapshots

    shapes = {
        "val": (len(job.val_rows), job.classes),
        "test": None if test is None else (len(test.images), job.classes),
        "holdout": None if job.holdout is None else (len(job.holdout), job.classes),
    }
    found = finished_snapshots(job.recipe.train, job.checkpoint, job.identity, resumed and resumed.epochs_done, shapes)
    if found is None:  # a snapshot file is missing or damaged: train the fold again from its start
        keras.utils.set_random_seed(job.seed)
        return None, []
    return resumed, found


def _predictor(job: FoldJob, model: Any, train: ImageSet, test: ImageSet | None) -> Callable[[], Predictions]:
    """A function that predicts the validation, test and hold-out rows' softmaxes with ``model`` as it is then (the
    final model, or a snapshot)."""
    from kit.engine import evaluation_dataset

    def predict(part: np.ndarray) -> np.ndarray:
        dataset = evaluation_dataset(part, None, job.classes, job.recipe.train.batch_size)
        proba = model.predict(dataset, verbose=0).astype(np.float32)
        if not np.all(np.isfinite(proba)):
            raise KitError(f"fold {job.fold}: the model predicts non-finite probabilities; lower train.learning_rate")
        return proba

    def predict_all() -> Predictions:
        return (
            predict(take_rows(train.images, job.val_rows)),
            None if test is None else predict(take_rows(test.images)),
            None if job.holdout is None else predict(take_rows(train.images, job.holdout)),
        )

    return predict_all


def _fold_callbacks(
    job: FoldJob,
    own: list[Any],
    report: EpochReport | None,
    predict_all: Callable[[], Predictions],
    snapshots: list[Any],
    resumed: Any,
) -> list[Any]:
    """The callbacks a fold adds after kit's own and the loss guard, in this order: progress, snapshots (which
    append to ``snapshots``) and the epoch checkpoint, last, so that it saves the state the others reached."""
    added = []
    if report is not None:
        resumed_at = resumed.initial_epoch if resumed else 0
        added.append(FoldProgress(job.fold, report, resumed_at, job.recipe.train.epochs))
    if job.recipe.train.snapshots is not None:
        from kit.engine import SnapshotKeeper

        added.append(SnapshotKeeper(job.recipe.train, predict_all, snapshots, job.checkpoint, job.identity))
    if job.checkpoint is not None:
        from kit.engine import EpochCheckpoint

        added.append(EpochCheckpoint(job.checkpoint, own, job.identity, resume=resumed))
    return added


def _final_predictions(
    job: FoldJob, final: Predictions, snapshots: list[Any], val_labels: np.ndarray
) -> tuple[Predictions, dict[str, Any]]:
    """The fold's predictions and what its record adds for them: the final model's, or with ``train.snapshots``
    the vote of the snapshots, the model after fit being the last one, with each snapshot's validation accuracy."""
    if job.recipe.train.snapshots is None:
        return final, {}
    from kit.engine import Snapshot, vote

    snapshots.append(Snapshot(len(snapshots) + 1, job.recipe.train.epochs, *final))
    scores = [softmax_scores(snapshot.val, val_labels)[0] for snapshot in snapshots]
    return vote(snapshots), {"snapshots": len(snapshots), "snapshot_val_accuracy": scores}


def _model_bytes(model: Any) -> bytes:
    """The serialized ``.keras`` model, saved through a private temporary folder; an ``OSError`` there (a full disk,
    a file size limit) is one line naming the path and the cause."""
    path = Path(tempfile.gettempdir()) / "model.keras"
    try:
        with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as folder:
            path = Path(folder) / "model.keras"
            model.save(path)
            return path.read_bytes()
    except OSError as error:
        raise os_error(path, error, "cannot save the fold's model") from None


def _fold_result(
    job: FoldJob,
    model: Any,
    predictions: Predictions,
    history: dict[str, list[float]],
    voted: dict[str, Any],
    seconds: float,
    val_labels: np.ndarray,
) -> FoldResult:
    """The finished fold: its softmaxes, history, record (scores, timing) and serialized model."""
    val_proba, test_proba, holdout_proba = predictions
    accuracy, loss = softmax_scores(val_proba, val_labels)
    model_bytes = _model_bytes(model)
    record = {
        "fold": job.fold,
        "epochs": len(history.get("loss", [])),
        "val_accuracy": accuracy,
        "val_loss": loss,
        **voted,
        "seconds": round(seconds, 2),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return FoldResult(
        fold=job.fold,
        val_rows=job.val_rows,
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
