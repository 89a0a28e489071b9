"""What a submission's cells may hold, by kind (``Competition.submission_kind``), read back as arrays with one line
naming the file, line and column of the first bad cell.

``label``: one class value a row (a multi-label task: its labels separated by spaces, possibly none);
``probability``: P(``class_values[1]``) from 0 to 1; ``probabilities``: one column per class (label) in class order,
each from 0 to 1; ``top_k``: 1 to k class values best first, separated by spaces, none twice. A number written
``3``, ``3.0`` or `` 3`` is the integer class 3; text classes are matched as written (surrounding spaces aside).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from kit.competitions import Competition
from kit.errors import KitError

SEPARATOR = " "  # between the labels of a top-k or multi-label cell (split back on any whitespace)


def id_key(value: Any) -> str:
    """An id as comparable text: ``7``, ``7.0`` and ``"7"`` are the same id; other text is kept as it is (stripped)."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value).strip()


def _whole(value: Any) -> Any:
    """A cell as an int where it is a whole number (``3``, ``3.0``), else as it is."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if np.isfinite(number) and number == int(number) else value


def class_finder(competition: Competition) -> Callable[[Any], int]:
    """A function from a cell (text or number) to its class index, -1 where it is not a class."""
    if competition.string_classes:
        table = {str(value).strip(): index for index, value in enumerate(competition.class_values)}
        return lambda cell: table.get(str(cell).strip(), -1)
    numbers = {int(value): index for index, value in enumerate(competition.class_values)}

    def find(cell: Any) -> int:
        key = _whole(cell)
        return numbers.get(key, -1) if isinstance(key, int) else -1

    return find


def fail(source: str, row: int, column: str, message: str) -> KitError:
    """The one-line error of a bad cell (``row`` 0 is line 2, under the header)."""
    return KitError(f"{source}: line {row + 2}, column {column}: {message}")


def label_problem(values: pd.Series, competition: Competition) -> tuple[int, str] | None:
    """The first row whose label is not one of the competition's class values, and why."""
    classes = competition.class_values
    if competition.string_classes:
        allowed = {str(value) for value in classes}
        bad = ~values.map(lambda v: id_key(v) in allowed).to_numpy(dtype=bool)
        if bad.any():
            row = int(np.argmax(bad))
            return row, f"{values.iloc[row]!r} is not a class ({competition.describe_classes()})"
        return None
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    not_integer = ~np.isfinite(numbers) | (numbers != np.round(numbers))
    if not_integer.any():
        row = int(np.argmax(not_integer))
        value = values.iloc[row]
        value = value.item() if isinstance(value, np.generic) else value
        return row, f"{value!r} is not an integer"
    outside = ~np.isin(numbers, np.array(classes, dtype=np.float64))
    if outside.any():
        row = int(np.argmax(outside))
        return row, f"{int(numbers[row])} is not a class ({competition.describe_classes()})"
    return None


def label_indices(values: pd.Series, competition: Competition, column: str, source: str) -> np.ndarray:
    """One class value a cell → class indices ``(n,)``, failing on the first cell that is not a class."""
    find = class_finder(competition)
    indices = np.fromiter((find(value) for value in values), dtype=np.int64, count=len(values))
    if (indices < 0).any():
        row = int(np.argmax(indices < 0))
        raise fail(source, row, column, f"{values.iloc[row]!r} is not a class ({competition.describe_classes()})")
    return indices


def label_lists(
    values: pd.Series, competition: Competition, column: str, source: str, most: int | None = None
) -> list[list[int]]:
    """Cells of class values separated by spaces → each row's class indices in the order written. ``most`` (top-k
    cells) also refuses an empty cell and more than ``most`` labels; every cell refuses an unknown label or a repeat."""
    find, rows = class_finder(competition), []
    for row, cell in enumerate(values):
        tokens = str(cell).split()
        if most is not None and not 1 <= len(tokens) <= most:
            held = f"{len(tokens)} labels" if tokens else "no label"
            raise fail(source, row, column, f"{held}; expected 1 to {most} class values separated by spaces")
        indices: list[int] = []
        for token in tokens:
            index = find(token)
            if index < 0:
                raise fail(source, row, column, f"{token!r} is not a class ({competition.describe_classes()})")
            if index in indices:
                raise fail(source, row, column, f"{token!r} appears twice")
            indices.append(index)
        rows.append(indices)
    return rows


def label_matrix(lists: list[list[int]], classes: int) -> np.ndarray:
    """Each row's labels as an ``(n, classes)`` 0/1 int matrix."""
    matrix = np.zeros((len(lists), classes), dtype=np.int64)
    for row, indices in enumerate(lists):
        matrix[row, indices] = 1
    return matrix


def ranked_array(lists: list[list[int]], k: int) -> np.ndarray:
    """Each row's labels best first as an ``(n, k)`` int array, -1 in the slots a row leaves empty."""
    ranked = np.full((len(lists), k), -1, dtype=np.int64)
    for row, indices in enumerate(lists):
        ranked[row, : len(indices)] = indices[:k]
    return ranked


def probability_matrix(frame: pd.DataFrame, columns: Sequence[str], source: str) -> np.ndarray:
    """The ``columns`` of ``frame`` as an ``(n, len(columns))`` float64 matrix, each cell a number from 0 to 1."""
    numbers = np.column_stack(
        [
            pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            for column in columns
        ]
    )
    bad = ~np.isfinite(numbers) | (numbers < 0) | (numbers > 1)
    if bad.any():
        row, col = (int(index) for index in np.argwhere(bad)[0])
        value = frame[columns[col]].iloc[row]
        value = value.item() if isinstance(value, np.generic) else value
        raise fail(source, row, columns[col], f"{value!r} is not a probability (a number from 0 to 1)")
    return numbers


def check_values(frame: pd.DataFrame, competition: Competition, source: str) -> None:
    """Fail with one line on the first cell that the competition's submission kind does not allow."""
    kind, columns = competition.submission_kind, list(competition.submission_columns[1:])
    if kind in ("probability", "probabilities"):
        probability_matrix(frame, columns, source)
    elif kind == "top_k":
        label_lists(frame[columns[0]], competition, columns[0], source, most=competition.top_k)
    elif competition.multilabel:
        label_lists(frame[columns[0]], competition, columns[0], source)
    else:
        problem = label_problem(frame[columns[0]], competition)
        if problem is not None:
            raise fail(source, problem[0], columns[0], problem[1])
