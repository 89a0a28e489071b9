"""The run folder: the contract between steps (summary.json, oof.npy, test.npy, fold-K/…), written atomically."""

from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kit.errors import KitError

if TYPE_CHECKING:
    from kit.data import ImageSet

RUNS_DIR = Path("runs")
FOLD_RECORD = "fold.json"


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o644)  # mkstemp makes files private; results are meant to be read by others
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, content: Any) -> None:
    write_bytes_atomic(path, (json.dumps(content, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise KitError(f"{path}: not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise KitError(f"{path}: not valid JSON; delete it or rerun with --force") from None


def save_array(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())


def load_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise KitError(f"{path}: not found") from None
    except ValueError:
        raise KitError(f"{path}: not a readable .npy array; rerun with --force") from None


@dataclass
class FoldResult:
    """What training one fold produces; ``model_bytes`` is the serialized ``.keras`` model."""

    fold: int
    val_rows: np.ndarray
    val_proba: np.ndarray
    test_proba: np.ndarray | None
    history: dict[str, list[float]]
    record: dict[str, Any]
    model_bytes: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class RunFolder:
    """Paths and atomic reads/writes of one run folder."""

    root: Path

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.json"

    @property
    def oof_path(self) -> Path:
        return self.root / "oof.npy"

    @property
    def test_path(self) -> Path:
        return self.root / "test.npy"

    def fold_dir(self, fold: int) -> Path:
        return self.root / f"fold-{fold}"

    def save_fold(self, result: FoldResult) -> None:
        """Write a fold's model, history and softmaxes; its record, written last, marks it finished."""
        folder = self.fold_dir(result.fold)
        write_bytes_atomic(folder / "model.keras", result.model_bytes)
        write_json(folder / "history.json", result.history)
        save_array(folder / "val_rows.npy", result.val_rows)
        save_array(folder / "val_proba.npy", result.val_proba)
        if result.test_proba is not None:
            save_array(folder / "test_proba.npy", result.test_proba)
        write_json(folder / FOLD_RECORD, result.record)

    def load_fold(self, fold: int) -> FoldResult | None:
        """A finished fold's result (without the model bytes), or None if it never finished."""
        folder = self.fold_dir(fold)
        if not (folder / FOLD_RECORD).is_file():
            return None
        test_path = folder / "test_proba.npy"
        return FoldResult(
            fold=fold,
            val_rows=load_array(folder / "val_rows.npy"),
            val_proba=load_array(folder / "val_proba.npy"),
            test_proba=load_array(test_path) if test_path.is_file() else None,
            history=read_json(folder / "history.json"),
            record=read_json(folder / FOLD_RECORD),
        )

    def summary(self) -> dict[str, Any]:
        return read_json(self.summary_path)

    def images(self, part: Literal["train", "test"], data_dir: Path | str | None = None) -> ImageSet:
        """The ``part`` ("train" or "test") images of the run, from ``data_dir`` or its own data folder.

        Fails with one line unless the file holds exactly the rows the run was trained with (same fingerprint).
        """
        from kit.competitions import get_competition
        from kit.data import load_test, load_train

        summary = self.summary()
        competition = get_competition(summary["competition"])
        folder = Path(data_dir if data_dir is not None else summary["data_dir"])
        path = folder / (competition.train_file if part == "train" else competition.test_file)
        if not path.is_file():
            raise KitError(f"{path}: not found; pass --data with the folder run {self.root} was trained on")
        images = (load_train if part == "train" else load_test)(folder, competition)
        expected = summary[f"{part}_fingerprint"]
        if images.fingerprint() != expected:
            raise KitError(
                f"{path}: not the {part} rows of run {self.root} (fingerprint {images.fingerprint()}, the run has "
                f"{expected}); pass --data with the run's data folder"
            )
        return images


def resolve_run(reference: str | Path) -> RunFolder:
    """A run folder by path, or by name under ``runs/``; it must hold a summary.json."""
    path = Path(reference)
    for candidate in (path, RUNS_DIR / path):
        if (candidate / "summary.json").is_file():
            return RunFolder(candidate)
    raise KitError(f"run {reference}: no summary.json there or under {RUNS_DIR}/; run `kit cv` first")


@dataclass(frozen=True)
class RunInfo:
    """One line of the run listing: a finished run's scores, or an unfinished/unreadable run's ``status``."""

    path: Path
    recipe: str | None = None
    recipe_hash: str | None = None
    competition: str | None = None
    folds: int | None = None
    oof_accuracy: float | None = None
    oof_loss: float | None = None
    fold_accuracy_std: float | None = None
    train_seconds: float | None = None
    finished_at: str | None = None
    status: str = "finished"


def _finished_run(path: Path) -> RunInfo:
    try:
        summary = read_json(path / "summary.json")
        return RunInfo(
            path=path,
            recipe=summary["recipe"],
            recipe_hash=summary["recipe_hash"],
            competition=summary["competition"],
            folds=len(summary["folds"]),
            oof_accuracy=float(summary["oof_accuracy"]),
            oof_loss=float(summary["oof_loss"]),
            fold_accuracy_std=float(summary["fold_accuracy_std"]),
            train_seconds=float(summary["train_seconds"]),
            finished_at=summary["finished_at"],
        )
    except (KitError, KeyError, TypeError, ValueError):
        return RunInfo(path=path, status="summary.json unreadable")


def _unfinished_run(path: Path) -> RunInfo:
    records = []
    for record_path in sorted(path.glob(f"fold-*/{FOLD_RECORD}")):
        try:
            records.append(read_json(record_path))
        except KitError:
            continue
    total = max((record.get("folds_total") or 0 for record in records), default=0) or "?"
    return RunInfo(path=path, folds=len(records), status=f"unfinished: {len(records)}/{total} folds")


def list_runs(root: Path | str = RUNS_DIR) -> list[RunInfo]:
    """Every run folder under ``root``, best OOF accuracy first, then unfinished and unreadable ones."""
    root = Path(root)
    if not root.is_dir():
        raise KitError(f"{root}: no such folder; run `kit cv` first or pass the folder that holds your runs")
    finished = {path.parent for path in root.rglob("summary.json")}
    started = {path.parent.parent for path in root.rglob(f"fold-*/{FOLD_RECORD}")} - finished
    runs = [_finished_run(path) for path in finished] + [_unfinished_run(path) for path in started]
    return sorted(
        runs,
        key=lambda run: (
            run.oof_accuracy is None,
            -(run.oof_accuracy or 0.0),
            run.oof_loss if run.oof_loss is not None else 0.0,
            str(run.path),
        ),
    )


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def runs_table(runs: list[RunInfo], root: Path | str = RUNS_DIR):
    """The run listing as a rich table: run folder, recipe, folds, OOF scores, training time (sum over folds), date."""
    from rich import box
    from rich.table import Table

    competitions = sorted({run.competition for run in runs if run.competition})
    title = f"runs under {root}/ ({', '.join(competitions) or 'none finished'}), best OOF accuracy first (times UTC)"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("run", no_wrap=True)
    table.add_column("recipe")
    for column in ("folds", "OOF acc", "OOF loss", "time"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("finished")
    for run in runs:
        name = str(run.path.relative_to(root))
        if run.oof_accuracy is None:
            table.add_row(name, "", str(run.folds or ""), "", "", "", run.status, style="dim")
            continue
        recipe = run.recipe if len(competitions) < 2 else f"{run.recipe} ({run.competition})"
        table.add_row(
            name, recipe, str(run.folds), f"{run.oof_accuracy:.4f}", f"{run.oof_loss:.4f}",
            _duration(run.train_seconds), run.finished_at.replace("T", " ")[:16],
        )
    return table
