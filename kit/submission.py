"""Check (and write) submission files against a competition's format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.competitions import Competition
from kit.errors import KitError
from kit.rundir import write_bytes_atomic, write_json


def expected_ids(data_dir: Path | str, competition: Competition) -> np.ndarray | None:
    """The ids a submission must list, in order: from sample_submission.csv, else None if it is absent."""
    sample = Path(data_dir) / competition.sample_submission_file
    if not sample.is_file():
        return None
    frame = read_submission(sample, competition)
    return frame[competition.submission_columns[0]].to_numpy()


def read_submission(path: Path | str, competition: Competition, ids: np.ndarray | None = None) -> pd.DataFrame:
    """Read a submission CSV and check columns, integer labels in range and (when given) the ids in order."""
    path = Path(path)
    id_column, label_column = competition.submission_columns
    if not path.is_file():
        raise KitError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise KitError(f"{path}: not a valid CSV ({type(error).__name__}); expected columns {id_column},{label_column}") from None
    check_submission(frame, competition, ids, source=str(path))
    return frame


def read_checked_submission(path: Path | str, competition: Competition, data_dir: Path | str) -> pd.DataFrame:
    """Read a submission file with the checks ``kit predict`` applies to what it writes: its ids must be those of
    ``sample_submission.csv`` in ``data_dir`` when that is there, else the ids the competition's format implies."""
    expected = expected_ids(data_dir, competition)
    frame = read_submission(path, competition, expected)
    if expected is None:
        check_submission(frame, competition, spec_ids(competition, len(frame)), source=str(path))
    return frame


def check_submission(
    frame: pd.DataFrame, competition: Competition, ids: np.ndarray | None = None, source: str = "submission"
) -> None:
    """Fail with one line unless ``frame`` is a valid submission for ``competition``."""
    columns = list(competition.submission_columns)
    id_column, label_column = columns
    if [str(column) for column in frame.columns] != columns:
        raise KitError(f"{source}: columns are {','.join(map(str, frame.columns))}; expected exactly {','.join(columns)}")
    if frame.empty:
        raise KitError(f"{source}: no rows; expected one row per test image")
    for column in columns:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        not_integer = (numbers.isna() | (numbers != numbers.round())).to_numpy()
        if not_integer.any():
            row = int(np.argmax(not_integer))
            value = frame[column].iloc[row]
            value = value.item() if isinstance(value, np.generic) else value
            raise KitError(f"{source}: line {row + 2}, column {column}: {value!r} is not an integer")
    duplicated = frame[id_column].duplicated().to_numpy()
    if duplicated.any():
        row = int(np.argmax(duplicated))
        raise KitError(f"{source}: line {row + 2}, column {id_column}: id {frame[id_column].iloc[row]} appears twice")
    labels = frame[label_column].to_numpy()
    outside = (labels < 0) | (labels >= competition.classes)
    if outside.any():
        row = int(np.argmax(outside))
        raise KitError(
            f"{source}: line {row + 2}, column {label_column}: {labels[row]} is not a class (0–{competition.classes - 1})"
        )
    if ids is not None:
        found = frame[id_column].to_numpy()
        if len(found) != len(ids):
            raise KitError(f"{source}: {len(found)} rows; the test set has {len(ids)} images")
        mismatch = found != ids
        if mismatch.any():
            row = int(np.argmax(mismatch))
            raise KitError(f"{source}: line {row + 2}, column {id_column}: {found[row]} where the test set has {ids[row]}")


def spec_ids(competition: Competition, rows: int) -> np.ndarray | None:
    """The ids the competition's format implies for ``rows`` test images (row numbers from ``first_id``), if it does."""
    if competition.test_id_column is not None:
        return None
    return np.arange(competition.first_id, competition.first_id + rows, dtype=np.int64)


def refuse_overwrite(path: Path | str, force: bool) -> None:
    """Fail unless ``path`` is free or ``force`` allows replacing it."""
    if Path(path).exists() and not force:
        raise KitError(f"{path} exists; pass --force to overwrite it, or --name to pick another name")


def write_submission(
    ids: np.ndarray,
    labels: np.ndarray,
    path: Path | str,
    competition: Competition,
    sidecar: dict[str, Any] | None = None,
    force: bool = False,
    expected: np.ndarray | None = None,
) -> pd.DataFrame:
    """Check and atomically write a submission CSV (and ``sidecar`` as the ``.json`` beside it); return the frame.

    The rows must match ``expected`` ids (e.g. from :func:`expected_ids`), else the ids the competition format implies.
    An existing file is kept unless ``force``.
    """
    path = Path(path)
    refuse_overwrite(path, force)
    id_column, label_column = competition.submission_columns
    frame = pd.DataFrame({id_column: np.asarray(ids), label_column: np.asarray(labels)})
    if expected is None:
        expected = spec_ids(competition, len(frame))
    check_submission(frame, competition, expected, source=str(path))
    frame = frame.astype(np.int64)
    write_bytes_atomic(path, frame.to_csv(index=False).encode())
    if sidecar is not None:
        write_json(path.with_suffix(".json"), sidecar)
    return frame
