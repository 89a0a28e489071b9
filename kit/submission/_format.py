"""Check (and write) submission files against a competition's format and its sample submission.

Ids keep the sample submission's order and type (integers, or any text); labels are written as the competition's
class values (integers with gaps or strings), mapped from the model's class indices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.competitions import Competition, class_values_of
from kit.errors import ANOTHER, KitError
from kit.utils import write_bytes_atomic, write_json


def id_key(value: Any) -> str:
    """An id as comparable text: ``7``, ``7.0`` and ``"7"`` are the same id; other text is kept as it is (stripped)."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value).strip()


def as_ids(values: Any) -> np.ndarray:
    """Ids as int64 when every one is an integer written plainly, else as a str array."""
    keys = [id_key(value) for value in values]
    try:
        numbers = np.array([int(key) for key in keys], dtype=np.int64)
    except (ValueError, OverflowError):
        return np.array(keys, dtype=str)
    if all(str(number) == key for number, key in zip(numbers, keys)):
        return numbers
    return np.array(keys, dtype=str)


def expected_ids(data_dir: Path | str, competition: Competition) -> np.ndarray | None:
    """The ids a submission must list, in order: from sample_submission.csv (its labels are placeholders and are not
    checked), else None if it is absent."""
    sample = Path(data_dir) / competition.sample_submission_file
    if not sample.is_file():
        return None
    frame = read_submission(sample, competition, check_labels=False)
    return as_ids(frame[competition.submission_columns[0]])


def read_submission(
    path: Path | str, competition: Competition, ids: np.ndarray | None = None, check_labels: bool = True
) -> pd.DataFrame:
    """Read a submission CSV and check columns, labels (class values) and, when given, the ids in order; ids come back
    as int64 or text, labels as int64 for integer classes."""
    path = Path(path)
    id_column, label_column = competition.submission_columns
    if not path.is_file():
        raise KitError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise KitError(
            f"{path}: not a valid CSV ({type(error).__name__}); expected columns {id_column},{label_column}"
        ) from None
    check_submission(frame, competition, ids, source=str(path), check_labels=check_labels)
    frame[id_column] = as_ids(frame[id_column])
    if check_labels and not competition.string_classes:
        frame[label_column] = pd.to_numeric(frame[label_column]).astype(np.int64)
    return frame


def read_checked_submission(path: Path | str, competition: Competition, data_dir: Path | str) -> pd.DataFrame:
    """Read a submission file with the checks ``kit predict`` applies to what it writes: its ids must be those of
    ``sample_submission.csv`` in ``data_dir`` when that is there, else the ids the competition's format implies."""
    expected = expected_ids(data_dir, competition)
    frame = read_submission(path, competition, expected)
    if expected is None:
        check_submission(frame, competition, spec_ids(competition, len(frame)), source=str(path))
    return frame


def _label_problem(values: pd.Series, competition: Competition) -> tuple[int, str] | None:
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


def check_submission(
    frame: pd.DataFrame,
    competition: Competition,
    ids: np.ndarray | None = None,
    source: str = "submission",
    check_labels: bool = True,
) -> None:
    """Fail with one line unless ``frame`` is a valid submission for ``competition`` (ids in the order of ``ids``)."""
    columns = list(competition.submission_columns)
    id_column, label_column = columns
    if [str(column) for column in frame.columns] != columns:
        raise KitError(
            f"{source}: columns are {','.join(map(str, frame.columns))}; expected exactly {','.join(columns)}"
        )
    if frame.empty:
        raise KitError(f"{source}: no rows; expected one row per test image")
    keys = frame[id_column].map(id_key)
    empty = (keys == "").to_numpy() | frame[id_column].isna().to_numpy()
    if empty.any():
        raise KitError(f"{source}: line {int(np.argmax(empty)) + 2}, column {id_column}: empty id")
    duplicated = keys.duplicated().to_numpy()
    if duplicated.any():
        row = int(np.argmax(duplicated))
        raise KitError(f"{source}: line {row + 2}, column {id_column}: id {keys.iloc[row]} appears twice")
    if check_labels:
        problem = _label_problem(frame[label_column], competition)
        if problem is not None:
            raise KitError(f"{source}: line {problem[0] + 2}, column {label_column}: {problem[1]}")
    if ids is not None:
        if len(frame) != len(ids):
            raise KitError(f"{source}: {len(frame)} rows; the test set has {len(ids)} images")
        wanted = np.array([id_key(value) for value in ids], dtype=object)
        mismatch = keys.to_numpy(dtype=object) != wanted
        if mismatch.any():
            row = int(np.argmax(mismatch))
            raise KitError(
                f"{source}: line {row + 2}, column {id_column}: {keys.iloc[row]} where the test set has {wanted[row]}"
            )


def spec_ids(competition: Competition, rows: int) -> np.ndarray | None:
    """The ids the competition's format implies for ``rows`` test images (row numbers from ``first_id``), if it does."""
    if competition.test_id_column is not None:
        return None
    return np.arange(competition.first_id, competition.first_id + rows, dtype=np.int64)


UNIT = (".csv", ".npy", ".json")  # a submission is one unit: the CSV, its test softmax and its sidecar


def refuse_overwrite(path: Path | str, force: bool) -> None:
    """Fail unless the submission ``path`` is free or ``force`` allows replacing it: its CSV, ``.npy`` (test
    softmax) and ``.json`` (sidecar) are one unit, so any one of them there is refused (also when it is a link)."""
    if force:
        return
    path = Path(path)
    for suffix in UNIT:
        taken = path.with_suffix(suffix)
        if taken.exists() or taken.is_symlink():
            raise KitError(f"{taken} exists", fix=(("force", True), ("name", ANOTHER)))


def _class_values(labels: np.ndarray, competition: Competition, source: str, label_column: str) -> np.ndarray:
    """Class indices (numbers) → class values; text labels are taken as class values already."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "iufb":
        numbers = labels.astype(np.float64)
        not_integer = ~np.isfinite(numbers) | (numbers != np.round(numbers))
        if not_integer.any():
            row = int(np.argmax(not_integer))
            raise KitError(f"{source}: line {row + 2}, column {label_column}: {labels[row].item()!r} is not an integer")
        outside = (numbers < 0) | (numbers >= competition.classes)
        if outside.any():
            row = int(np.argmax(outside))
            what = "a class" if competition.class_values == tuple(range(competition.classes)) else "a class index"
            raise KitError(
                f"{source}: line {row + 2}, column {label_column}: {int(numbers[row])} is not {what} "
                f"(0–{competition.classes - 1})"
            )
        return class_values_of(competition, numbers.astype(np.int64))
    return labels.astype(str)


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

    ``labels`` are class indices ``0..K-1`` (written as the competition's class values; text labels are taken as
    class values). With ``expected`` ids (from :func:`expected_ids`) the rows are put in that order and carry those
    ids as the sample submission writes them; else the ids must be those the competition format implies, if any.
    An existing file is kept unless ``force``.
    """
    path = Path(path)
    refuse_overwrite(path, force)
    id_column, label_column = competition.submission_columns
    ids = np.asarray(ids)
    values = _class_values(labels, competition, str(path), label_column)
    if len(values) != len(ids):
        raise KitError(f"{path}: {len(ids)} ids but {len(values)} labels")
    if expected is not None:
        ids, values = _in_sample_order(ids, values, np.asarray(expected), str(path))
    frame = pd.DataFrame({id_column: ids, label_column: values})
    check_submission(
        frame, competition, expected if expected is not None else spec_ids(competition, len(frame)), source=str(path)
    )
    write_bytes_atomic(path, frame.to_csv(index=False).encode())
    if sidecar is not None:
        write_json(path.with_suffix(".json"), sidecar)
    return frame


def _in_sample_order(
    ids: np.ndarray, values: np.ndarray, expected: np.ndarray, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions reordered to the sample submission's ids (which are kept as written there)."""
    if len(ids) != len(expected):
        raise KitError(f"{source}: {len(ids)} rows; the test set has {len(expected)} images")
    position = {id_key(value): row for row, value in enumerate(ids)}
    if len(position) != len(ids):
        repeated = pd.Series([id_key(value) for value in ids]).duplicated().to_numpy()
        raise KitError(f"{source}: id {id_key(ids[int(np.argmax(repeated))])} has two predictions")
    order = []
    for row, value in enumerate(expected):
        found = position.get(id_key(value))
        if found is None:
            raise KitError(
                f"{source}: line {row + 2}: the sample submission's id {id_key(value)} is not among the test ids "
                f"(the first is {id_key(ids[0])}); the test file and sample submission do not match"
            )
        order.append(found)
    return expected, values[np.array(order, dtype=np.int64)]
