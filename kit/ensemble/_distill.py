"""Distillation: one model of a recipe trained on an ensemble's soft targets, scored on a held-out part, saved as a
single ``model.keras`` with its test softmax and a submission — the one-file model for fast inference.

Targets of the training rows are ``alpha · one-hot(label) + (1 − alpha) · ensemble OOF softmax``; confident test rows
(``pseudo_threshold``) may be added with the ensemble's test softmax as their targets. A stratified ``holdout`` part
of the training rows is kept out of training and scores the student beside the ensemble (whose OOF softmax is
out of fold for those rows too). A multi-label task's student has one sigmoid per label, its targets
``alpha · labels + (1 − alpha) · ensemble OOF probabilities`` label by label. TensorFlow is imported only inside
:func:`distill`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kit.competitions import softmax_scores
from kit.crossval import RUNS_DIR, default_run_dir, resolve_run
from kit.data import holdout_split
from kit.errors import ANOTHER, KitError
from kit.recipes import Recipe, load_recipe
from kit.utils import (
    Callback,
    as_callback_list,
    import_tensorflow,
    prepare_tensorflow,
    save_array,
    software_versions,
    write_json,
)

if TYPE_CHECKING:
    from kit.ensemble._combine import Ensemble

RECORD = "distill.json"


@dataclass(frozen=True)
class DistillScore:
    """What ``on_fold_end`` gets when the student finishes: its held-out accuracy and loss (``fold`` is 1)."""

    fold: int
    val_accuracy: float
    val_loss: float


@dataclass(frozen=True, eq=False)
class Distillation:
    """A distilled model: its folder (``model.keras``, ``distill.json``, ``test.npy``), held-out scores of the
    student and of the ensemble on the same rows, the student's test softmax and the submission written."""

    path: Path
    record: dict[str, Any]
    test: np.ndarray = field(repr=False)
    submission: Path | None

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    @property
    def holdout_accuracy(self) -> float:
        return self.record["student"]["holdout_accuracy"]

    @property
    def teacher_holdout_accuracy(self) -> float:
        return self.record["teacher"]["holdout_accuracy"]


def soft_targets(labels: np.ndarray, teacher: np.ndarray, alpha: float) -> np.ndarray:
    """``alpha · one-hot(labels) + (1 − alpha) · teacher``, as float32 rows summing to 1; for a multi-label task's
    0/1 ``labels`` matrix, ``alpha · labels + (1 − alpha) · teacher`` (each label's probability)."""
    one_hot = labels.astype(np.float64) if labels.ndim == 2 else np.eye(teacher.shape[1], dtype=np.float64)[labels]
    return (alpha * one_hot + (1 - alpha) * teacher.astype(np.float64)).astype(np.float32)


def soft_training_dataset(images: np.ndarray, targets: np.ndarray, batch_size: int, augment: Any, seed: int) -> Any:
    """Shuffled, batched (float image, soft target) pairs, augmented per batch as in the recipe's training."""

    tf = import_tensorflow()
    from kit.engine import make_augmenter, without_autotune

    augmenter = make_augmenter(augment, seed)
    dataset = tf.data.Dataset.from_tensor_slices((images, targets))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(batch_size)

    def prepare(batch_images, batch_targets):
        batch_images = tf.cast(batch_images, tf.float32)
        if augmenter is not None:
            batch_images = augmenter(batch_images, training=True)
        return batch_images, batch_targets

    return without_autotune(dataset.map(prepare).prefetch(2))  # sequential map: reproducible augmentation draws


def _check(alpha: float, holdout: float, epochs: int | None, pseudo_threshold: float | None = None) -> None:
    if not 0 <= alpha <= 1:
        raise KitError.invalid("alpha", "in [0, 1] (1: true labels only, 0: the ensemble's softmax only)", alpha)
    if not 0 < holdout < 1:
        raise KitError.invalid("holdout", "strictly between 0 and 1, e.g. 0.1", holdout)
    if epochs is not None and epochs < 1:
        raise KitError.invalid("epochs", "at least 1", epochs)
    if pseudo_threshold is not None and not 0 < pseudo_threshold <= 1:
        raise KitError.invalid("pseudo_threshold", "a probability in (0, 1], e.g. 0.99", pseudo_threshold)


def distill(
    runs: Sequence[str | Path],
    recipe: str | Recipe,
    alpha: float = 0.5,
    holdout: float = 0.1,
    pseudo_threshold: float | None = None,
    epochs: int | None = None,
    out: Path | str | None = None,
    data_dir: Path | str | None = None,
    name: str | None = None,
    submissions: Path | str | None = None,
    force: bool = False,
    callbacks: Iterable[Callback] = (),
) -> Distillation:
    """Train one model of ``recipe`` on the soft targets of the runs' equal soft vote (see the module docstring).

    Writes ``out`` (default ``runs/<competition>/<recipe>-distill``, beside the first run): ``model.keras``,
    ``distill.json``, ``test.npy``, ``holdout_rows.npy``; and the submission ``<submissions>/<name>.csv`` (default
    ``submissions/<out name>.csv``).
    """
    _check(alpha, holdout, epochs, pseudo_threshold)
    label = resolve_run(runs[0]).summary().label if runs and out is None else None  # the teachers' runs/<label>/
    loaded, folder, csv = _destinations(recipe, epochs, out, name, submissions, force, label)
    from kit.crossval._run import stratification_key
    from kit.ensemble._combine import build_ensemble

    ensemble = build_ensemble(runs)
    progress = as_callback_list(callbacks)
    train_set = ensemble.members[0].run.images("train", data_dir)
    test_set = ensemble.members[0].run.images("test", data_dir)
    labels, classes, seed = ensemble.labels, ensemble.oof.shape[1], loaded.cv.seed
    train_rows, held_rows = holdout_split(stratification_key(labels, 2), holdout, seed)
    images, targets, pseudo = _training_rows(
        ensemble, train_set.images, test_set.images, train_rows, alpha, pseudo_threshold
    )
    student, history, seconds = _train(
        loaded, images, targets, train_set.images[held_rows], labels[held_rows], classes, seed, progress
    )
    held_proba, test = _predict(student, train_set.images[held_rows], test_set.images, classes, loaded.train.batch_size)
    student_scores = softmax_scores(held_proba, labels[held_rows])
    teacher_scores = softmax_scores(ensemble.oof[held_rows], labels[held_rows])
    progress.on_fold_end(DistillScore(1, *student_scores), False)
    _save_student(folder, student, test, ensemble.test_ids, held_rows, held_proba)
    split = {
        "alpha": alpha,
        "holdout": holdout,
        "train_rows": len(train_rows),
        "holdout_rows": len(held_rows),
        "pseudo": None if pseudo_threshold is None else {"threshold": pseudo_threshold, "rows": len(pseudo)},
    }
    record = _record(loaded, ensemble, student, (teacher_scores, student_scores), split, history, seconds)
    sidecar = {
        "distilled": str(folder),
        "weighting": "distilled",
        "oof_accuracy": None,
        "holdout_accuracy": student_scores[0],
        "holdout_loss": student_scores[1],
        "teacher_holdout_accuracy": teacher_scores[0],
        "runs": record["runs"],
    }
    from kit.ensemble._predict import write_softmax_submission

    write_softmax_submission(csv, test, ensemble.test_ids, ensemble.members[0].summary, data_dir, sidecar, force)
    record["submission"] = str(csv)
    write_json(folder / RECORD, record)  # last: it marks the folder finished
    progress.on_run_end()
    return Distillation(path=folder, record=record, test=test, submission=csv)


def _destinations(
    recipe: str | Recipe,
    epochs: int | None,
    out: Path | str | None,
    name: str | None,
    submissions: Path | str | None,
    force: bool,
    label: str | None = None,
) -> tuple[Recipe, Path, Path]:
    """The student's recipe (with ``epochs``), its folder (default ``runs/<label>/<recipe>-distill``, beside its
    teachers) and its submission path, refused if they exist already."""
    from kit.ensemble._predict import SUBMISSIONS_DIR, submission_path
    from kit.submission import refuse_overwrite

    loaded = load_recipe(recipe) if isinstance(recipe, str) else recipe
    if epochs is not None:
        loaded = loaded.with_overrides({"train.epochs": epochs})
    student = f"{loaded.name}-distill"
    folder = Path(out) if out is not None else default_run_dir(label, student) if label else RUNS_DIR / student
    if (folder / RECORD).is_file() and not force:
        raise KitError(f"{folder}: already holds a distilled model", fix=(("force", True), ("out", ANOTHER)))
    csv = submission_path(name or folder.name, submissions if submissions is not None else SUBMISSIONS_DIR)
    refuse_overwrite(csv, force)
    return loaded, folder, csv


def _training_rows(
    ensemble: Ensemble,
    train_images: np.ndarray,
    test_images: np.ndarray,
    train_rows: np.ndarray,
    alpha: float,
    pseudo_threshold: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The student's images and soft targets: the training rows, then the confident test rows (``pseudo_threshold``)
    with the ensemble's test softmax as targets; and those test rows."""
    from kit.ensemble._pseudo import confident_rows

    images = train_images[train_rows]
    targets = soft_targets(ensemble.labels[train_rows], ensemble.oof[train_rows], alpha)
    pseudo = np.zeros(0, dtype=np.int64)
    if pseudo_threshold is not None:
        pseudo, _, _ = confident_rows(ensemble.test, pseudo_threshold, multilabel=ensemble.labels.ndim == 2)
        images = np.concatenate([images, test_images[pseudo]])
        targets = np.concatenate([targets, ensemble.test[pseudo].astype(np.float32)])
    return images, targets, pseudo


def _save_student(
    folder: Path, student: Any, test: np.ndarray, test_ids: np.ndarray, held_rows: np.ndarray, held_proba: np.ndarray
) -> None:
    """``model.keras`` and the student's softmaxes (test rows, held-out rows) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    student.save(folder / "model.keras")
    save_array(folder / "test.npy", test.astype(np.float32))
    save_array(folder / "test_ids.npy", test_ids)
    save_array(folder / "holdout_rows.npy", held_rows)
    save_array(folder / "holdout_proba.npy", held_proba.astype(np.float32))


def _record(
    recipe: Recipe,
    ensemble: Ensemble,
    student: Any,
    scores: tuple[tuple[float, float], tuple[float, float]],
    split: dict[str, Any],
    history: dict[str, list[float]],
    seconds: float,
) -> dict[str, Any]:
    """``distill.json`` but for the submission: the teacher's and the student's held-out ``scores``, the ``split``
    of the rows (alpha, hold-out, rows, pseudo-labels), the training and the provenance."""

    first = ensemble.members[0].summary
    teacher_scores, student_scores = scores
    return {
        "recipe": recipe.name,
        "recipe_hash": recipe.content_hash,
        "runs": [str(member.run.root) for member in ensemble.members],
        "teacher": {
            "method": "equal soft vote",
            "holdout_accuracy": teacher_scores[0],
            "holdout_loss": teacher_scores[1],
            "oof_accuracy": ensemble.oof_accuracy,
        },
        "student": {
            "holdout_accuracy": student_scores[0],
            "holdout_loss": student_scores[1],
            "parameters": int(student.count_params()),
        },
        **split,
        "epochs": recipe.train.epochs,
        "seed": recipe.cv.seed,
        "seconds": round(seconds, 2),
        "history": history,
        "competition": first.competition,
        "train_fingerprint": first.train_fingerprint,
        "test_fingerprint": first.test_fingerprint,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": software_versions(),
        "recipe_content": recipe.content,
    }


def _train(
    recipe: Recipe,
    images: np.ndarray,
    targets: np.ndarray,
    held_images: np.ndarray,
    held_labels: np.ndarray,
    classes: int,
    seed: int,
    progress: Any,
) -> tuple[Any, dict[str, list[float]], float]:
    """The student, trained on (images, targets) with the held-out rows as its validation data."""

    prepare_tensorflow(None)
    import keras

    from kit.engine import build_callbacks, build_model, evaluation_dataset

    keras.utils.set_random_seed(seed)
    batch = recipe.train.batch_size
    model = build_model(recipe, images.shape[1:], classes, train_rows=len(images), multilabel=held_labels.ndim == 2)
    report = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: progress.on_epoch_end(1, epoch + 1, dict(logs))
    )
    progress.on_run_begin("distill", total=1, epochs=recipe.train.epochs)
    progress.on_fold_begin(1)
    started = time.perf_counter()
    fitted = model.fit(
        soft_training_dataset(images, targets, batch, recipe.augment, seed),
        validation_data=evaluation_dataset(held_images, held_labels, classes, batch),
        epochs=recipe.train.epochs,
        callbacks=[*build_callbacks(recipe), report],
        shuffle=False,
        verbose=0,
    )
    history = {key: [float(value) for value in values] for key, values in fitted.history.items()}
    return model, history, time.perf_counter() - started


def _predict(model: Any, held: np.ndarray, test: np.ndarray, classes: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    from kit.engine import evaluation_dataset

    return tuple(model.predict(evaluation_dataset(images, None, classes, batch), verbose=0) for images in (held, test))
