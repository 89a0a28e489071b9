"""Check (and write) submission files against a competition's format and its sample submission.

Ids keep the sample submission's order and type (integers, or any text); labels are written as the competition's
class values (integers with gaps or strings), mapped from the model's class indices. Every kind of submission
(:mod:`kit.submission._kinds`: one label, the probability of class 1, one probability per class, the top k labels)
is written from probabilities by :func:`write_predictions` and checked cell by cell (:mod:`kit.submission._cells`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.competitions import Competition
from kit.errors import ANOTHER, KitError
from kit.submission._cells import check_values, id_key
from kit.submission._kinds import label_cells, prediction_cells
from kit.utils import write_bytes_atomic, write_json


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
    """Read a submission CSV and check columns, values (class values, probabilities or top-k labels, as the
    competition's submission kind says) and, when given, the ids in order; ids come back as int64 or text, labels as
    int64 for integer classes and probabilities as float64 (with ``check_labels``; a sample's are placeholders)."""
    path = Path(path)
    columns = competition.submission_columns
    if not path.is_file():
        raise KitError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise KitError(
            f"{path}: not a valid CSV ({type(error).__name__}); expected columns {','.join(columns)}"
        ) from None
    check_submission(frame, competition, ids, source=str(path), check_labels=check_labels)
    frame[columns[0]] = as_ids(frame[columns[0]])
    kind = competition.submission_kind
    if check_labels and kind in ("probability", "probabilities"):
        for column in columns[1:]:
            frame[column] = pd.to_numeric(frame[column]).astype(np.float64)
    elif check_labels and kind == "label" and not (competition.multilabel or competition.string_classes):
        frame[columns[1]] = pd.to_numeric(frame[columns[1]]).astype(np.int64)
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
    frame: pd.DataFrame,
    competition: Competition,
    ids: np.ndarray | None = None,
    source: str = "submission",
    check_labels: bool = True,
) -> None:
    """Fail with one line unless ``frame`` is a valid submission for ``competition`` (ids in the order of ``ids``):
    exactly the spec's columns, one id a row, and (``check_labels``) every value one its submission kind allows."""
    columns = list(competition.submission_columns)
    id_column = columns[0]
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
        check_values(frame, competition, source)
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
    """The ids the competition's format implies for ``rows`` test images (row numbers from ``first_id``), if it does
    (an image-file competition's ids come from the file names)."""
    if competition.test_id_column is not None or competition.images is not None:
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


def write_submission(
    ids: np.ndarray,
    labels: np.ndarray,
    path: Path | str,
    competition: Competition,
    sidecar: dict[str, Any] | None = None,
    force: bool = False,
    expected: np.ndarray | None = None,
) -> pd.DataFrame:
    """Check and atomically write a submission CSV of labels (and ``sidecar`` as the ``.json`` beside it); return the
    frame.

    ``labels`` are class indices ``0..K-1`` (written as the competition's class values; text labels are taken as
    class values); for a multi-label task a 0/1 ``(n, L)`` matrix, for a ``top_k`` submission ``(n, k)`` class
    indices best first. A submission of probabilities is written from them (:func:`write_predictions`). With
    ``expected`` ids (from :func:`expected_ids`) the rows are put in that order and carry those ids as the sample
    submission writes them; else the ids must be those the competition format implies, if any. An existing file is
    kept unless ``force``.
    """
    path = Path(path)
    refuse_overwrite(path, force)
    labels = np.asarray(labels)
    if len(labels) != len(ids):
        raise KitError(f"{path}: {len(ids)} ids but {len(labels)} labels")
    cells = {competition.submission_columns[1]: label_cells(labels, competition, str(path))}
    return _write(np.asarray(ids), cells, path, competition, sidecar, expected)


def write_predictions(
    ids: np.ndarray,
    proba: np.ndarray,
    path: Path | str,
    competition: Competition,
    sidecar: dict[str, Any] | None = None,
    force: bool = False,
    expected: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> pd.DataFrame:
    """Check and atomically write the submission of the competition's kind from probabilities ``proba`` ``(n, K)``
    (softmax rows; a multi-label task's sigmoid rows): one label, the probability of class 1, one probability per
    class or the top k labels (:mod:`kit.submission._kinds`); return the frame. ``labels`` (a ``label`` submission
    only: class indices, or a 0/1 matrix for a multi-label task) replace the argmax, e.g. an ordinal task's grades
    from fitted thresholds. ``sidecar``, ``force`` and ``expected`` as for :func:`write_submission`.
    """
    path = Path(path)
    refuse_overwrite(path, force)
    if len(proba) != len(ids):
        raise KitError(f"{path}: {len(ids)} ids but {len(proba)} rows of probabilities")
    cells = prediction_cells(proba, competition, str(path), labels)
    return _write(np.asarray(ids), cells, path, competition, sidecar, expected)


def _write(
    ids: np.ndarray,
    cells: dict[str, np.ndarray],
    path: Path,
    competition: Competition,
    sidecar: dict[str, Any] | None,
    expected: np.ndarray | None,
) -> pd.DataFrame:
    """Put the rows in the sample's order, check the frame, write it (and the sidecar)."""
    if expected is not None:
        order = _sample_order(ids, np.asarray(expected), str(path))
        ids, cells = np.asarray(expected), {column: values[order] for column, values in cells.items()}
    frame = pd.DataFrame({competition.submission_columns[0]: ids, **cells})
    check_submission(
        frame, competition, expected if expected is not None else spec_ids(competition, len(frame)), source=str(path)
    )
    write_bytes_atomic(path, frame.to_csv(index=False).encode())
    if sidecar is not None:
        write_json(path.with_suffix(".json"), sidecar)
    return frame


def _sample_order(ids: np.ndarray, expected: np.ndarray, source: str) -> np.ndarray:
    """The rows of the predictions in the sample submission's order of ids."""
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
    return np.array(order, dtype=np.int64)
