"""The typed view of run folders: :class:`CVResult` (one finished run, read by :func:`load_run`, the one reader of
summary) and :func:`list_runs` (every run under a folder, finished or not)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kit.crossval._rundir import (
    FOLD_RECORD,
    RUNS_DIR,
    SUMMARY,
    RunFolder,
    load_array,
    read_json,
)
from kit.crossval._runnames import resolve_run
from kit.crossval._summary import Summary
from kit.errors import KitError
from kit.utils._display import card, facts, in_notebook, number, short_repr, show_images, table

if TYPE_CHECKING:
    from kit.recipes import Recipe

DISTILLED = "distill.json"  # the record of a kit distill folder (kit.ensemble._distill writes it)


@dataclass(frozen=True)
class FoldScore:
    """One fold's scores: epochs trained, held-out accuracy and loss, training seconds."""

    fold: int
    epochs: int
    val_accuracy: float
    val_loss: float
    seconds: float


@dataclass(frozen=True, eq=False)
class CVResult:
    """A finished cross-validation run: its scores, identity and (loaded on first use) arrays.

    ``oof`` holds one out-of-sample softmax per training row (rows kept out as a hold-out get the fold models' mean),
    ``test`` the mean of the fold models' test softmaxes (None without test data).
    """

    path: Path
    recipe_name: str
    recipe_hash: str
    overrides: dict[str, Any]
    competition: str
    data_dir: Path
    train_rows: int
    test_rows: int
    classes: int
    image_shape: tuple[int, ...]
    folds: tuple[FoldScore, ...]
    oof_accuracy: float
    oof_loss: float
    fold_accuracy_mean: float
    fold_accuracy_std: float
    train_seconds: float
    finished_at: str
    seed: int
    holdout_accuracy: float | None = None
    holdout_rows: int = 0
    versions: dict[str, str] = field(default_factory=dict)
    metric: str = "accuracy"
    oof_score: float | None = None
    summary: Summary | None = field(default=None, repr=False)  # the checked run summary it was read from

    @property
    def run(self) -> RunFolder:
        return RunFolder(self.path)

    @cached_property
    def recipe(self) -> Recipe:
        """The resolved recipe the run was trained with (overrides applied)."""
        from kit.recipes import parse_recipe

        try:
            return parse_recipe(self.summary.recipe_content, self.recipe_name)
        except KitError as error:
            raise KitError(f"{self.path / SUMMARY}: recipe_content: {error}") from None

    def checked(self, path: Path) -> Path:
        """``path`` (a file of the run folder), refused with one line unless it is the file the run wrote (see
        :meth:`Summary.check_file`)."""
        if self.summary is not None:
            self.summary.check_file(self.path, path)
        return path

    @cached_property
    def oof(self) -> np.ndarray:
        return probabilities(self.checked(self.run.oof_path), (self.train_rows, self.classes), self.multilabel)

    @cached_property
    def labels(self) -> np.ndarray:
        return class_labels(self.checked(self.run.labels_path), self.train_rows, self.classes)

    @property
    def multilabel(self) -> bool:
        """A multi-label run: its labels a 0/1 matrix, its arrays independent label probabilities (sigmoids)."""
        return self.labels.ndim == 2

    @cached_property
    def test(self) -> np.ndarray | None:
        if not self.run.test_path.is_file():
            return None
        return probabilities(self.checked(self.run.test_path), (self.test_rows, self.classes), self.multilabel)

    @cached_property
    def test_ids(self) -> np.ndarray | None:
        if not self.run.test_ids_path.is_file():
            return None
        return load_array(self.checked(self.run.test_ids_path), shape=(self.test_rows,))

    @property
    def epochs(self) -> int:
        return int(self.summary.recipe_content.get("train", {}).get("epochs", 0)) if self.summary else 0

    def models(self) -> list[Any]:
        """The fold models as compiled Keras models (imports TensorFlow; see :func:`kit.crossval.load_fold_models`)."""
        from kit.crossval._infer import load_fold_models

        return load_fold_models(self.run, [score.fold for score in self.folds], compile=True)

    def report(self, data: Path | str | None = None, *, show: bool | None = None) -> Any:
        """Write the run's PNG figures and report.html into its folder (as ``kit report``). ``show`` (default: in a
        Jupyter kernel) displays the figures inline and returns None; otherwise returns what was written, silently."""
        from kit.crossval._report import write_report

        written = write_report(self.path, data)
        if not (in_notebook() if show is None else show):
            return written
        show_images(written.images.values(), f"report of {self.recipe_name} on {self.competition}: {written.html}")
        return None

    def __repr__(self) -> str:
        other = self.metric != "accuracy"  # the competition's metric and score shown only where it is not accuracy
        fields = {"recipe": self.recipe_name, "competition": self.competition, "metric": self.metric if other else None}
        fields |= {"oof_score": self.oof_score if other else None, "oof_accuracy": self.oof_accuracy}
        fields |= {"folds": len(self.folds), "path": self.path}
        return short_repr("CVResult", fields)

    def _repr_html_(self) -> str:
        score = self.oof_accuracy if self.oof_score is None else self.oof_score
        spread = f"{number(self.fold_accuracy_mean)} ± {number(self.fold_accuracy_std)}"
        held = f"{number(self.holdout_accuracy)} ({self.holdout_rows:,} rows)" if self.holdout_rows else None
        about = facts(
            [
                (f"OOF {self.metric}", number(score)),
                ("OOF accuracy", number(self.oof_accuracy) if self.metric != "accuracy" else None),
                ("OOF log loss", number(self.oof_loss)),
                ("fold accuracy", spread),
                ("hold-out accuracy", held),
                ("rows", f"{self.train_rows:,} train, {self.test_rows:,} test, {self.classes} classes"),
                ("overrides", ", ".join(f"{key}={value}" for key, value in self.overrides.items()) or None),
                ("trained", f"{self.train_seconds:.0f} s, finished {self.finished_at}"),
                ("path", str(self.path)),
            ]
        )
        rows = [(f.fold, f.epochs, number(f.val_accuracy), number(f.val_loss), f"{f.seconds:.1f}") for f in self.folds]
        folds = table(("fold", "epochs", "val accuracy", "val loss", "seconds"), rows)
        return card(f"CVResult · {self.recipe_name} on {self.competition}", about, folds)


def probabilities(path: Path, shape: tuple[int, int], multilabel: bool = False) -> np.ndarray:
    """A checked softmax array: finite, of ``shape``, every row a probability distribution (sums to 1); for a
    ``multilabel`` run every value a probability (rows of independent sigmoids need not sum to 1)."""
    proba = load_array(path, "f", shape)
    if multilabel:
        if len(proba) and ((proba < 0) | (proba > 1)).any():
            raise KitError(f"{path}: not label probabilities (values outside [0, 1]); rerun the command that wrote it")
        return proba
    sums = proba.sum(axis=1)
    if len(proba) and ((proba < 0).any() or not np.allclose(sums, 1.0, atol=1e-3)):
        row = int(np.argmax(np.abs(sums - 1.0)))
        raise KitError(
            f"{path}: not probabilities (row {row} sums to {sums[row]:.4f}); rerun the command that wrote it"
        )
    return proba


def class_labels(path: Path, rows: int, classes: int) -> np.ndarray:
    """A checked label array: ``rows`` integers, each a class from 0 to ``classes`` - 1; or, for a multi-label run,
    a 0/1 matrix of ``rows`` × ``classes``."""
    matrix = load_array(path).ndim == 2
    labels = load_array(path, "iu", (rows, classes) if matrix else (rows,))
    outside = ((labels != 0) & (labels != 1)).any(axis=1) if matrix else (labels < 0) | (labels >= classes)
    if outside.any():
        row = int(np.argmax(outside))
        allowed = "a label matrix holds 0 and 1 only" if matrix else f"the run's classes are 0 to {classes - 1}"
        raise KitError(
            f"{path}: damaged (row {row} has label {labels[row].tolist()}, {allowed}); rerun the `kit cv` that wrote it"
        )
    return labels


def check_folds_match(run: RunFolder, summary: Summary) -> None:
    """Refuse a folder whose fold records belong to another run than its summary (a mixed folder)."""
    for record_path in sorted(run.root.glob(f"fold-*/{FOLD_RECORD}")):
        differ = summary.differs_from(read_json(record_path, dict))
        if differ:
            raise KitError(
                f"{run.root}: mixed run folder ({record_path.parent.name} was trained with another "
                f"{differ[0].replace('_', ' ')} than {SUMMARY}); rerun its `kit cv`",
                fix=("force", True),
            )


def load_run(reference: str | Path) -> CVResult:
    """Read a finished run folder (a path, or a name under ``runs/``) into a :class:`CVResult`, its summary checked
    against the schema and its fold records against the summary."""
    run = resolve_run(reference)
    summary = run.summary()
    check_folds_match(run, summary)
    return CVResult(
        path=run.root,
        recipe_name=summary.recipe,
        recipe_hash=summary.recipe_hash,
        overrides=dict(summary.overrides),
        competition=summary.competition,
        data_dir=Path(summary.data_dir),
        train_rows=summary.data.train_rows,
        test_rows=summary.data.test_rows,
        classes=summary.data.classes,
        image_shape=tuple(summary.data.image_shape),
        folds=tuple(
            FoldScore(**score.model_dump(include=set(FoldScore.__dataclass_fields__))) for score in summary.folds
        ),
        oof_accuracy=summary.oof_accuracy,
        oof_loss=summary.oof_loss,
        fold_accuracy_mean=summary.fold_accuracy_mean,
        fold_accuracy_std=summary.fold_accuracy_std,
        train_seconds=summary.train_seconds,
        finished_at=summary.finished_at,
        seed=summary.seed,
        holdout_accuracy=summary.holdout_accuracy,
        holdout_rows=summary.holdout_rows,
        versions=dict(summary.versions),
        metric=summary.metric,
        oof_score=summary.oof_accuracy if summary.oof_score is None else summary.oof_score,
        summary=summary,
    )


@dataclass(frozen=True)
class RunInfo:
    """One line of the run listing: a finished run, or an unfinished/unreadable one with its ``status``."""

    path: Path
    result: CVResult | None = None
    folds_done: int = 0
    folds_total: int | None = None
    status: str = "finished"
    competition: str = ""  # the runs it ranks with: its competition, or "demo" (kit's embedded demo digits)


def _unfinished_run(path: Path) -> RunInfo:
    records = []
    for record_path in sorted(path.glob(f"fold-*/{FOLD_RECORD}")):
        try:
            records.append(read_json(record_path, dict))
        except KitError:
            continue
    total = (
        max(
            (record.get("folds_total") or 0 for record in records if isinstance(record.get("folds_total"), int)),
            default=0,
        )
        or None
    )
    return RunInfo(
        path=path,
        folds_done=len(records),
        folds_total=total,
        status=f"unfinished: {len(records)}/{total or '?'} folds",
        competition=_folder_label(path),
    )


def _folder_label(path: Path) -> str:
    """The competition an unreadable run's folder names (``runs/<competition>/<run>``), else none."""
    return path.parent.name if path.parent.parent.name == RUNS_DIR.name else ""


def _distilled(path: Path) -> RunInfo:
    """A ``kit distill`` folder (``distill.json``: one student model, no folds) as a line of the listing."""
    try:
        record = read_json(path / DISTILLED, dict)
        student = record.get("student") or {}
        accuracy = student.get("holdout_accuracy")
        scored = f", held-out accuracy {accuracy:.4f}" if isinstance(accuracy, float) else ""
        return RunInfo(path=path, status=f"distilled student{scored}", competition=str(record.get("competition") or ""))
    except (KitError, AttributeError) as error:
        return RunInfo(path=path, status=f"unreadable: {error}", competition=_folder_label(path))


def list_runs(root: Path | str = RUNS_DIR) -> list[RunInfo]:
    """Every run folder under ``root`` (``kit distill``'s too), grouped by :attr:`RunInfo.competition` (``demo`` for
    kit's embedded demo digits), best OOF score in the competition's metric first, then distilled, unfinished and
    unreadable ones."""
    root = Path(root)
    if not root.is_dir():
        raise KitError(f"{root}: no such folder; run `kit cv` first or give the folder that holds your runs")
    finished = {path.parent for path in root.rglob(SUMMARY) if path.is_file()}
    started = {path.parent.parent for path in root.rglob(f"fold-*/{FOLD_RECORD}")} - finished
    distilled = {path.parent for path in root.rglob(DISTILLED) if path.is_file()} - finished
    runs = []
    for path in finished:
        try:
            result = load_run(path)
            label = result.summary.label if result.summary is not None else result.competition
            runs.append(RunInfo(path=path, result=result, competition=label))
        except KitError as error:
            runs.append(RunInfo(path=path, status=f"unreadable: {error}", competition=_folder_label(path)))
    runs += [_unfinished_run(path) for path in started]
    runs += [_distilled(path) for path in distilled]
    return sorted(runs, key=_rank)


def _rank(info: RunInfo) -> tuple[Any, ...]:
    """By competition; in one, finished runs first, then best score in the competition's metric, then lower log loss."""
    result = info.result
    if result is None:
        return (not info.competition, info.competition, True, 0.0, 0.0, str(info.path))
    from kit.competitions import get_metric

    score = result.oof_score if result.oof_score is not None else result.oof_accuracy
    signed = -score if get_metric(result.metric).greater_is_better else score
    return (not info.competition, info.competition, False, signed, result.oof_loss, str(info.path))
