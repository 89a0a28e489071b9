"""What ``kit score`` compares: the answers (``solution.csv`` in the submission's own columns, or a test file's
labels) and what a submission holds (labels, probabilities or ranked labels), each as arrays the metrics take.

The answers: one class value a row for a ``label`` or ``top_k`` submission (a multi-label task: its labels separated
by spaces, or one 0/1 column per label), the 0/1 truth of class 1 (or its class value) for a ``probability``
submission, one-hot columns (a multi-label task: 0/1 columns) for ``probabilities``. They become class indices
``(n,)``, or a 0/1 ``(n, L)`` matrix for a multi-label task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from kit.competitions import Competition
from kit.errors import KitError
from kit.submission._cells import (
    fail,
    id_key,
    label_indices,
    label_lists,
    label_matrix,
    probability_matrix,
    ranked_array,
)

Holds = Literal["labels", "probabilities", "ranking"]


def read_csv(path: Path, what: str) -> pd.DataFrame:
    """A CSV as text cells (columns named as text), one line when it is missing, unreadable or empty."""
    if not path.is_file():
        raise KitError(f"{path}: {what} not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise KitError(f"{path}: not a valid CSV ({type(error).__name__})") from None
    frame.columns = [str(column) for column in frame.columns]
    if frame.empty:
        raise KitError(f"{path}: no rows")
    return frame


def _label_names(competition: Competition) -> list[str]:
    """The 0/1 columns of a multi-label answer: the spec's label columns, else the class values as text."""
    return list(competition.label_columns) or [str(value) for value in competition.class_values]


def _zero_one(path: Path, frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """0/1 answer columns as an int matrix."""
    matrix = probability_matrix(frame, columns, str(path))
    bad = (matrix != 0) & (matrix != 1)
    if bad.any():
        row, col = (int(index) for index in np.argwhere(bad)[0])
        raise fail(str(path), row, columns[col], f"{frame[columns[col]].iloc[row]!r} is not an answer of 0 or 1")
    return matrix.astype(np.int64)


def truth_of(path: Path, frame: pd.DataFrame, competition: Competition) -> np.ndarray:
    """The answers of a solution file in the submission's columns: class indices, or a multi-label 0/1 matrix."""
    id_column, *columns = competition.submission_columns
    kind, source = competition.submission_kind, str(path)

    def need(names: list[str]) -> None:
        missing = [column for column in (id_column, *names) if column not in frame.columns]
        if missing:
            wanted = ",".join((id_column, *names))
            raise KitError(f"{path}: no column {missing[0]}; a solution file needs columns {wanted}")

    if competition.multilabel:
        for names in (columns if kind == "probabilities" else [], _label_names(competition)):
            if names and all(name in frame.columns for name in names):
                return _zero_one(path, frame, list(names))
        need([columns[0]])
        return label_matrix(label_lists(frame[columns[0]], competition, columns[0], source), competition.classes)
    need(columns)
    if kind == "probabilities":
        return probability_matrix(frame, columns, source).argmax(axis=1)
    values = frame[columns[0]]
    if kind == "probability":
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isin(numbers, (0.0, 1.0)).all():  # the truth of class 1, else its class values
            return numbers.astype(np.int64)
    return label_indices(values, competition, columns[0], source)


def held(path: Path, frame: pd.DataFrame, competition: Competition) -> tuple[Holds, np.ndarray]:
    """What a submission holds, read from the competition's columns: class indices (a 0/1 matrix for a multi-label
    task), probabilities ``(n, K)`` (a ``probability`` column p as ``[1 - p, p]``) or ranked class indices
    ``(n, k)``. A single-label submission may also give one probability column per class, named as the classes."""
    id_column, *columns = competition.submission_columns
    kind, source = competition.submission_kind, str(path)
    if id_column not in frame.columns:
        raise KitError(f"{path}: no column {id_column}; expected {','.join(competition.submission_columns)}")
    if all(column in frame.columns for column in columns):
        if kind == "probability":
            positive = probability_matrix(frame, columns, source)[:, 0]
            return "probabilities", np.column_stack([1.0 - positive, positive])
        if kind == "probabilities":
            return "probabilities", _probabilities(path, frame, columns, competition)
        if kind == "top_k":
            lists = label_lists(frame[columns[0]], competition, columns[0], source, most=competition.top_k)
            return "ranking", ranked_array(lists, competition.top_k)
        if competition.multilabel:
            lists = label_lists(frame[columns[0]], competition, columns[0], source)
            return "labels", label_matrix(lists, competition.classes)
        return "labels", label_indices(frame[columns[0]], competition, columns[0], source)
    class_columns = [str(value) for value in competition.class_values]
    if not competition.multilabel and all(column in frame.columns for column in class_columns):
        return "probabilities", _probabilities(path, frame, class_columns, competition)
    alternative = "" if competition.multilabel else f" or {id_column} and one probability column per class"
    raise KitError(
        f"{path}: columns are {','.join(frame.columns)}; expected {','.join(competition.submission_columns)}"
        + alternative
    )


def _probabilities(path: Path, frame: pd.DataFrame, columns: list[str], competition: Competition) -> np.ndarray:
    """Probability columns as a matrix; a single-label row may not be all zero (it would name no class)."""
    matrix = probability_matrix(frame, columns, str(path))
    if not competition.multilabel:
        zero = matrix.sum(axis=1) <= 0
        if zero.any():
            raise KitError(f"{path}: line {int(np.argmax(zero)) + 2}: the probabilities are all zero")
    return matrix


def row_order(path: Path, frame: pd.DataFrame, id_column: str, ids: list[str], source: str) -> np.ndarray:
    """The submission's rows in the order of the answers' ids, failing on a repeated, missing or extra id."""
    keys = frame[id_column].map(id_key)
    if keys.duplicated().any():
        row = int(np.argmax(keys.duplicated().to_numpy()))
        raise KitError(f"{path}: line {row + 2}, column {id_column}: id {keys.iloc[row]} appears twice")
    position = {key: row for row, key in enumerate(keys)}
    missing = [key for key in ids if key not in position]
    if missing:
        raise KitError(f"{path}: no prediction for id {missing[0]} ({len(missing)} of the {len(ids)} answers missing)")
    if len(position) != len(ids):
        known = set(ids)
        extra = next(key for key in keys if key not in known)
        raise KitError(f"{path}: id {extra} is not in the answers ({source})")
    return np.array([position[key] for key in ids], dtype=np.int64)
