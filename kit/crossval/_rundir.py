"""The run folder on disk: atomic writes, one writer at a time, and checked reads of its files.

A run folder holds ``summary.json`` (written last: the run is finished), ``oof.npy``, ``labels.npy``, ``test.npy``,
``test_ids.npy`` and one ``fold-K/`` per fold (``model.keras``, ``history.json``, ``val_rows.npy``,
``val_proba.npy``, ``test_proba.npy``, ``fold.json`` — written last: the fold is finished). Every file is written
through a temporary file and an atomic rename; every read is checked and fails with one line naming the file.
kit writes and deletes only the files of this contract (and its own ``.kit-tmp-…`` temporaries), and never through a
symbolic link that leads out of the folder. The typed view of a finished run is :mod:`kit.crossval._results`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kit.crossval._summary import RunIdentity, Summary, parse_summary
from kit.errors import ANOTHER, KitError
from kit.utils import load_array, read_json, save_array, write_bytes_atomic, write_json
from kit.utils._io import TEMP_PREFIX, os_error, remove_temporary

if TYPE_CHECKING:
    from kit.data import ImageSet

RUNS_DIR = Path("runs")  # runs/<competition>/<recipe>: see kit.crossval._runnames
FOLD_RECORD = "fold.json"
SUMMARY = "summary.json"
LOCK = ".kit.lock"
MODEL_FILE = "model.keras"  # a fold's saved model
CHECKPOINT_DIR = "checkpoint"  # fold-K/checkpoint/: the training state of an unfinished fold
FOLD_DIR = re.compile(r"fold-[0-9]+")
FOLD_FILES = (  # a fold's own files; --force removes these (its record first), its checkpoint, then the empty folder
    FOLD_RECORD,
    MODEL_FILE,
    "history.json",
    "val_rows.npy",
    "val_proba.npy",
    "test_proba.npy",
    "holdout_proba.npy",
)
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
    try:
        if path.exists() and not path.is_dir():
            raise KitError(f"{path}: exists and is not a folder; give a folder for the output", fix=("out", ANOTHER))
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f"{TEMP_PREFIX}write-test-{os.getpid()}"
        with open(probe, "wb") as stream:
            stream.write(b"kit")
            stream.flush()
            os.fsync(stream.fileno())
        probe.unlink()
    except OSError as error:
        raise KitError(f"{path}: cannot write there ({error.strerror or error})", fix=("out", ANOTHER)) from None
    return path


def fold_dirs(root: Path) -> list[Path]:
    """The ``fold-K`` entries of a run folder (folders, or links that pretend to be)."""
    try:
        return sorted(path for path in root.iterdir() if FOLD_DIR.fullmatch(path.name))
    except FileNotFoundError:
        return []
    except OSError as error:
        raise os_error(root, error, "cannot read it") from None


def remove_leftovers(folder: Path) -> int:
    """Remove the temporary files (``.kit-tmp-…``) an interrupted writer left where kit writes them: the run folder,
    its ``fold-K/`` folders and their checkpoints; return how many. Nothing else is touched."""
    from kit.engine._checkpoint import clean_temporary

    removed = len(remove_temporary(folder))
    for fold in fold_dirs(folder):
        removed += len(remove_temporary(fold)) + len(clean_temporary(fold / CHECKPOINT_DIR))
    return removed


def refuse_links_out(root: Path, paths: Iterable[Path]) -> None:
    """Fail with one line if one of ``paths`` (inside the run folder ``root``) is a link that leads out of it: kit
    would write or delete there. The run folder itself may be a link (the user's choice of ``--out``)."""
    base = os.path.realpath(root)
    for path in paths:
        try:
            if not os.path.lexists(path):
                continue
            target = os.path.realpath(path)
        except (OSError, ValueError) as error:
            raise KitError(f"{path}: cannot follow it ({error})", fix=("out", ANOTHER)) from None
        if os.path.commonpath([base, target]) != base:
            raise KitError(
                f"{path} is a symbolic link out of the run folder (to {target}); kit never writes or deletes "
                "through one: remove the link",
                fix=("out", ANOTHER),
            )


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

        if self.path.is_symlink():  # the lock file is opened for writing: never through a link
            raise KitError(
                f"{self.path} is a symbolic link; kit never writes through one: remove it", fix=("out", ANOTHER)
            )
        try:
            self.lock.acquire()
        except Timeout:
            raise KitError(
                f"{self.folder}: another kit process is writing this run ({self._holder()}); wait for it to finish",
                fix=("out", ANOTHER),
            ) from None
        except OSError as error:  # after Timeout, which is one (a TimeoutError)
            raise KitError(f"{self.path}: cannot take the run's lock ({error.strerror or error})") from None
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
        with contextlib.suppress(OSError):  # the holder note only informs a second writer
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
    def labels_path(self) -> Path:
        return self.root / "labels.npy"

    @property
    def test_path(self) -> Path:
        return self.root / "test.npy"

    @property
    def test_ids_path(self) -> Path:
        return self.root / "test_ids.npy"

    @property
    def holdout_rows_path(self) -> Path:
        return self.root / "holdout_rows.npy"

    @property
    def pseudo_rows_path(self) -> Path:
        return self.root / "pseudo_rows.npy"

    @property
    def pseudo_labels_path(self) -> Path:
        return self.root / "pseudo_labels.npy"

    def fold_dir(self, fold: int) -> Path:
        return self.root / f"fold-{fold}"

    def model_path(self, fold: int) -> Path:
        """Fold ``fold``'s saved model."""
        return self.fold_dir(fold) / MODEL_FILE

    def val_rows_path(self, fold: int) -> Path:
        """The training rows fold ``fold`` was validated on."""
        return self.fold_dir(fold) / "val_rows.npy"

    def refuse_links(self, folds: Iterable[int] = ()) -> None:
        """Fail with one line where a folder kit writes or deletes in (a ``fold-K``, its checkpoint and snapshots,
        for ``folds`` and every fold folder there) is a link out of the run folder."""
        from kit.engine._snapshots import FOLDER as SNAPSHOTS

        folders = sorted({*fold_dirs(self.root), *(self.fold_dir(fold) for fold in folds)})
        checkpoints = [folder / CHECKPOINT_DIR for folder in folders]
        refuse_links_out(self.root, [*folders, *checkpoints, *(folder / SNAPSHOTS for folder in checkpoints)])

    def save_fold(self, result: FoldResult) -> None:
        """Write a fold's model, history and softmaxes; its record, written last, marks it finished."""
        folder = self.fold_dir(result.fold)
        refuse_links_out(self.root, [folder])
        write_bytes_atomic(self.model_path(result.fold), result.model_bytes)
        write_json(folder / "history.json", result.history)
        save_array(self.val_rows_path(result.fold), result.val_rows)
        save_array(folder / "val_proba.npy", result.val_proba)
        if result.test_proba is not None:
            save_array(folder / "test_proba.npy", result.test_proba)
        if result.holdout_proba is not None:
            save_array(folder / "holdout_proba.npy", result.holdout_proba)
        write_json(folder / FOLD_RECORD, result.record)

    def load_fold(self, fold: int, classes: int | None = None) -> FoldResult | None:
        """A finished fold's result (without the model bytes), or None if it never finished; every file checked."""
        folder = self.fold_dir(fold)
        try:
            if not (folder / FOLD_RECORD).is_file():
                return None
        except OSError as error:
            raise os_error(folder, error, "cannot read it") from None
        record = read_json(folder / FOLD_RECORD, dict)
        val_rows = load_array(self.val_rows_path(fold), "iu", (None,))
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
        """Make the folder hold no run: summary first (it no longer looks finished), then arrays, then folds. Only
        the files of the run-folder contract are removed (a fold folder holding others stays, with them)."""
        from kit.engine._checkpoint import remove_checkpoint

        self.refuse_links()
        try:
            self.summary_path.unlink(missing_ok=True)
            for name in RUN_ARRAYS:
                (self.root / name).unlink(missing_ok=True)
            for folder in fold_dirs(self.root):
                for name in FOLD_FILES:
                    (folder / name).unlink(missing_ok=True)
                remove_checkpoint(folder / CHECKPOINT_DIR)
                remove_temporary(folder)
                if not any(folder.iterdir()):
                    folder.rmdir()
        except OSError as error:
            raise os_error(Path(error.filename or self.root), error, "cannot remove") from None

    def images(self, part: Literal["train", "test"], data_dir: Path | str | None = None) -> ImageSet:
        """The ``part`` ("train" or "test") images of the run, from ``data_dir`` or its own data folder.

        Fails with one line unless the file holds exactly the rows the run was trained with (same fingerprint).
        """
        from kit.competitions import as_competition
        from kit.data import load_test, load_train

        summary = self.summary()
        folder = summary.data_folder(data_dir)
        competition = as_competition(summary.competition, folder)
        path = folder / competition.source_of(part)
        if not path.exists():
            raise KitError(f"{path}: not found; pass the folder run {self.root} was trained on as its data folder")
        images = (load_train if part == "train" else load_test)(folder, competition)
        expected = getattr(summary, f"{part}_fingerprint")
        if images.fingerprint() != expected:
            raise KitError(
                f"{path}: not the {part} rows of run {self.root} (fingerprint {images.fingerprint()}, the run has "
                f"{expected}); use the run's data folder"
            )
        return images
