"""The run folder: the contract between steps (summary.json, oof.npy, test.npy, fold-K/…), written atomically."""

from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kit.errors import KitError

RUNS_DIR = Path("runs")
FOLD_RECORD = "fold.json"


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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


def resolve_run(reference: str | Path) -> RunFolder:
    """A run folder by path, or by name under ``runs/``; it must hold a summary.json."""
    path = Path(reference)
    for candidate in (path, RUNS_DIR / path):
        if (candidate / "summary.json").is_file():
            return RunFolder(candidate)
    raise KitError(f"run {reference}: no summary.json there or under {RUNS_DIR}/; run `kit cv` first")
