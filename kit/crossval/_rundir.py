"""The run folder on disk: atomic writes, one writer at a time, and checked reads of its files.

A run folder holds ``summary.json`` (written last: the run is finished), ``oof.npy``, ``labels.npy``, ``test.npy``,
``test_ids.npy`` and one ``fold-K/`` per fold (``model.keras``, ``history.json``, ``val_rows.npy``,
``val_proba.npy``, ``test_proba.npy``, ``fold.json`` — written last: the fold is finished). Every file is written
through a temporary file and an atomic rename; every read is checked and fails with one line naming the file.
The typed view of a finished run is :mod:`kit.crossval._results`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kit.crossval._summary import RunIdentity, Summary, parse_summary
from kit.errors import ANOTHER, KitError
from kit.utils import load_array, read_json, save_array, write_bytes_atomic, write_json

if TYPE_CHECKING:
    from kit.data import ImageSet

RUNS_DIR = Path("runs")
FOLD_RECORD = "fold.json"
SUMMARY = "summary.json"
LOCK = ".kit.lock"
RUN_ARRAYS = (  # the run's own arrays beside summary.json; --force removes every one of them
    "oof.npy",
    "labels.npy",
    "test.npy",
    "test_ids.npy",
    "holdout_rows.npy",
    "pseudo_rows.npy",
    "pseudo_labels.npy",
)
IDENTITY_KEYS = tuple(RunIdentity.model_fields)  # what makes two runs the same run; fold records carry them too


def prepare_out(path: Path) -> Path:
    """Create the output folder and prove it can be written, before any long work; one line naming the cause."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise KitError(f"{path} exists and is not a folder; give a folder for the output", argument="out")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".kit-write-test-{os.getpid()}"
        with open(probe, "wb") as stream:
            stream.write(b"kit")
            stream.flush()
            os.fsync(stream.fileno())
        probe.unlink()
    except OSError as error:
        raise KitError(f"{path}: cannot write there ({error.strerror or error})", fix=("out", ANOTHER)) from None
    return path


def remove_leftovers(folder: Path) -> int:
    """Remove the temporary files an interrupted writer left (``.NAME.*.tmp``, ``.NAME.tmp.keras``); return how many."""
    removed = 0
    for leftover in folder.rglob(".*.tmp*"):  # Keras insists on .keras: checkpoints write .NAME.tmp.keras
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed


class RunLock:
    """The one-writer lock of a run folder (an advisory file lock, released by the kernel if the process dies).

    A second writer fails at once with one line naming the holder's pid, host and start time.
    """

    def __init__(self, folder: Path) -> None:
        from filelock import FileLock

        self.folder = folder
        self.path = folder / LOCK
        self.lock = FileLock(str(self.path), timeout=0)

    def __enter__(self) -> RunLock:
        from filelock import Timeout

        try:
            self.lock.acquire()
        except Timeout:
            raise KitError(
                f"{self.folder}: another kit process is writing this run ({self._holder()}); wait for it to finish",
                fix=("out", ANOTHER),
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_json(self.folder / f"{LOCK}.json", holder)
        return self

    def _holder(self) -> str:
        try:
            holder = json.loads((self.folder / f"{LOCK}.json").read_text())
            return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"

    def __exit__(self, *exc: Any) -> None:
        (self.folder / f"{LOCK}.json").unlink(missing_ok=True)
        self.lock.release()


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
    holdout_proba: np.ndarray | None = None


@dataclass(frozen=True)
class RunFolder:
    """Paths and checked, atomic reads/writes of one run folder."""

    root: Path

    @property
    def summary_path(self) -> Path:
        return self.root / SUMMARY

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
        if result.holdout_proba is not None:
            save_array(folder / "holdout_proba.npy", result.holdout_proba)
        write_json(folder / FOLD_RECORD, result.record)

    def load_fold(self, fold: int, classes: int | None = None) -> FoldResult | None:
        """A finished fold's result (without the model bytes), or None if it never finished; every file checked."""
        folder = self.fold_dir(fold)
        if not (folder / FOLD_RECORD).is_file():
            return None
        record = read_json(folder / FOLD_RECORD, dict)
        val_rows = load_array(folder / "val_rows.npy", "iu", (None,))
        val_proba = load_array(folder / "val_proba.npy", "f", (len(val_rows), classes))
        optional = {name: folder / f"{name}.npy" for name in ("test_proba", "holdout_proba")}
        loaded = {
            name: load_array(path, "f", (None, val_proba.shape[1])) if path.is_file() else None
            for name, path in optional.items()
        }
        return FoldResult(
            fold=fold,
            val_rows=val_rows,
            val_proba=val_proba,
            test_proba=loaded["test_proba"],
            history=read_json(folder / "history.json", dict),
            record=record,
            holdout_proba=loaded["holdout_proba"],
        )

    def summary(self) -> Summary:
        """The run's summary, checked against its schema (one line naming the file and key where it is not)."""
        return parse_summary(read_json(self.summary_path, dict), str(self.summary_path))

    def write_summary(self, summary: Summary) -> None:
        """Write the summary (last: the folder then holds a finished run)."""
        write_json(self.summary_path, summary.to_json())

    def invalidate(self) -> None:
        """Make the folder hold no run: summary first (it no longer looks finished), then arrays, then folds."""
        self.summary_path.unlink(missing_ok=True)
        for name in RUN_ARRAYS:
            (self.root / name).unlink(missing_ok=True)
        for folder in sorted(self.root.glob("fold-*")):
            (folder / FOLD_RECORD).unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)

    def images(self, part: Literal["train", "test"], data_dir: Path | str | None = None) -> ImageSet:
        """The ``part`` ("train" or "test") images of the run, from ``data_dir`` or its own data folder.

        Fails with one line unless the file holds exactly the rows the run was trained with (same fingerprint).
        """
        from kit.competitions import as_competition
        from kit.data import load_test, load_train

        summary = self.summary()
        folder = Path(data_dir if data_dir is not None else summary.data_dir)
        competition = as_competition(summary.competition, folder)
        path = folder / (competition.train_file if part == "train" else competition.test_file)
        if not path.is_file():
            raise KitError(f"{path}: not found; pass the folder run {self.root} was trained on as its data folder")
        images = (load_train if part == "train" else load_test)(folder, competition)
        expected = getattr(summary, f"{part}_fingerprint")
        if images.fingerprint() != expected:
            raise KitError(
                f"{path}: not the {part} rows of run {self.root} (fingerprint {images.fingerprint()}, the run has "
                f"{expected}); use the run's data folder"
            )
        return images


def resolve_run(reference: str | Path) -> RunFolder:
    """A run folder by path, or by name under ``runs/``; it must hold a summary.json."""
    path = Path(reference)
    for candidate in (path, RUNS_DIR / path):
        if (candidate / SUMMARY).is_file():
            return RunFolder(candidate)
    unfinished = next((c for c in (path, RUNS_DIR / path) if c.is_dir() and any(c.glob(f"fold-*/{FOLD_RECORD}"))), None)
    if unfinished is not None:
        raise KitError(
            f"run {reference}: unfinished (no summary.json in {unfinished}); rerun its `kit cv` to finish it"
        )
    raise KitError(f"run {reference}: no summary.json there or under {RUNS_DIR}/; run `kit cv` first")
