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
    IDENTITY_KEYS,
    RUNS_DIR,
    SUMMARY,
    RunFolder,
    load_array,
    read_json,
    resolve_run,
)
from kit.errors import KitError

if TYPE_CHECKING:
    from kit.recipes import Recipe


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
    summary: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def run(self) -> RunFolder:
        return RunFolder(self.path)

    @cached_property
    def recipe(self) -> Recipe:
        """The resolved recipe the run was trained with (overrides applied)."""
        from kit.recipes import parse_recipe

        try:
            return parse_recipe(self.summary["recipe_content"], self.recipe_name)
        except KitError as error:
            raise KitError(f"{self.path / SUMMARY}: recipe_content: {error}") from None

    @cached_property
    def oof(self) -> np.ndarray:
        return probabilities(self.path / "oof.npy", (self.train_rows, self.classes))

    @cached_property
    def labels(self) -> np.ndarray:
        return load_array(self.path / "labels.npy", "iu", (self.train_rows,))

    @cached_property
    def test(self) -> np.ndarray | None:
        path = self.path / "test.npy"
        return probabilities(path, (self.test_rows, self.classes)) if path.is_file() else None

    @cached_property
    def test_ids(self) -> np.ndarray | None:
        path = self.path / "test_ids.npy"
        return load_array(path, shape=(self.test_rows,)) if path.is_file() else None

    @property
    def epochs(self) -> int:
        return int(self.summary.get("recipe_content", {}).get("train", {}).get("epochs", 0))

    def models(self) -> list[Any]:
        """The fold models as compiled Keras models (imports TensorFlow; see :func:`kit.crossval.load_fold_models`)."""
        from kit.crossval._infer import load_fold_models

        return load_fold_models(self.run, [score.fold for score in self.folds], compile=True)

    def report(self, data: Path | str | None = None) -> Any:
        """Write the run's PNG figures and report.html into its folder; returns what was written."""
        from kit.crossval._report import write_report

        return write_report(self.path, data)


def probabilities(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A checked softmax array: finite, of ``shape``, every row a probability distribution (sums to 1)."""
    proba = load_array(path, "f", shape)
    sums = proba.sum(axis=1)
    if len(proba) and ((proba < 0).any() or not np.allclose(sums, 1.0, atol=1e-3)):
        row = int(np.argmax(np.abs(sums - 1.0)))
        raise KitError(
            f"{path}: not probabilities (row {row} sums to {sums[row]:.4f}); rerun the command that wrote it"
        )
    return proba


def _number(summary: dict[str, Any], key: str, path: Path, kind: type = float) -> Any:
    value = summary.get(key)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (kind is int and not float(value).is_integer())
    ):
        raise KitError(f"{path}: damaged (key {key}: expected a number, found {value!r}); rerun its `kit cv`")
    if not np.isfinite(value):
        raise KitError(f"{path}: key {key} is not finite ({value}); the run is not usable, rerun its `kit cv`")
    return kind(value)


def _text(summary: dict[str, Any], key: str, path: Path) -> str:
    value = summary.get(key)
    if not isinstance(value, str):
        raise KitError(f"{path}: damaged (key {key}: expected text, found {value!r}); rerun its `kit cv`")
    return value


def _fold_scores(summary: dict[str, Any], path: Path) -> tuple[FoldScore, ...]:
    folds = summary.get("folds")
    if not isinstance(folds, list) or not folds or not all(isinstance(item, dict) for item in folds):
        raise KitError(f"{path}: damaged (key folds: expected a list of fold records); rerun its `kit cv`")
    return tuple(
        FoldScore(
            fold=_number(item, "fold", path, int),
            epochs=_number(item, "epochs", path, int),
            val_accuracy=_number(item, "val_accuracy", path),
            val_loss=_number(item, "val_loss", path),
            seconds=_number(item, "seconds", path),
        )
        for item in folds
    )


def check_folds_match(run: RunFolder, summary: dict[str, Any]) -> None:
    """Refuse a folder whose fold records belong to another run than its summary (a mixed folder)."""
    for record_path in sorted(run.root.glob(f"fold-*/{FOLD_RECORD}")):
        record = read_json(record_path, dict)
        differ = [key for key in IDENTITY_KEYS if key in summary and record.get(key) != summary.get(key)]
        if differ:
            raise KitError(
                f"{run.root}: mixed run folder ({record_path.parent.name} was trained with another "
                f"{differ[0].replace('_', ' ')} than {SUMMARY}); rerun its `kit cv` with force to rebuild it"
            )


def load_run(reference: str | Path) -> CVResult:
    """Read a finished run folder (a path, or a name under ``runs/``) into a :class:`CVResult`, checking every key."""
    run = resolve_run(reference)
    path = run.summary_path
    summary = run.summary()
    data = summary.get("data")
    if not isinstance(data, dict):
        raise KitError(f"{path}: damaged (key data: expected a table); rerun its `kit cv`")
    folds = _fold_scores(summary, path)
    overrides = summary.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise KitError(f"{path}: damaged (key overrides: expected a table); rerun its `kit cv`")
    check_folds_match(run, summary)
    holdout = summary.get("holdout_accuracy")
    return CVResult(
        path=run.root,
        recipe_name=_text(summary, "recipe", path),
        recipe_hash=_text(summary, "recipe_hash", path),
        overrides=overrides,
        competition=_text(summary, "competition", path),
        data_dir=Path(_text(summary, "data_dir", path)),
        train_rows=_number(data, "train_rows", path, int),
        test_rows=_number(data, "test_rows", path, int),
        classes=_number(data, "classes", path, int),
        image_shape=tuple(data.get("image_shape") or ()),
        folds=folds,
        oof_accuracy=_number(summary, "oof_accuracy", path),
        oof_loss=_number(summary, "oof_loss", path),
        fold_accuracy_mean=_number(summary, "fold_accuracy_mean", path),
        fold_accuracy_std=_number(summary, "fold_accuracy_std", path),
        train_seconds=_number(summary, "train_seconds", path),
        finished_at=_text(summary, "finished_at", path),
        seed=_number(summary, "seed", path, int),
        holdout_accuracy=None if holdout is None else _number(summary, "holdout_accuracy", path),
        holdout_rows=int(summary.get("holdout_rows") or 0),
        versions=dict(summary.get("versions") or {}),
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
        path=path, folds_done=len(records), folds_total=total, status=f"unfinished: {len(records)}/{total or '?'} folds"
    )


def list_runs(root: Path | str = RUNS_DIR) -> list[RunInfo]:
    """Every run folder under ``root``, best OOF accuracy first, then unfinished and unreadable ones."""
    root = Path(root)
    if not root.is_dir():
        raise KitError(f"{root}: no such folder; run `kit cv` first or give the folder that holds your runs")
    finished = {path.parent for path in root.rglob(SUMMARY) if path.is_file()}
    started = {path.parent.parent for path in root.rglob(f"fold-*/{FOLD_RECORD}")} - finished
    runs = []
    for path in finished:
        try:
            runs.append(RunInfo(path=path, result=load_run(path)))
        except KitError as error:
            runs.append(RunInfo(path=path, status=f"unreadable: {error}"))
    runs += [_unfinished_run(path) for path in started]
    return sorted(
        runs,
        key=lambda info: (
            info.result is None,
            -(info.result.oof_accuracy if info.result else 0.0),
            info.result.oof_loss if info.result else 0.0,
            str(info.path),
        ),
    )
