"""The csv layout of image-file competitions: a labels CSV (the spec's train file) naming each image of the train
folder through ``images.pattern``, with its class (or labels: 0/1 columns or one column of separated labels) and
group. Every problem is one line naming the file, the line and the column, before any image is decoded.
"""

from __future__ import annotations

from pathlib import Path
from string import Formatter

import numpy as np
import pandas as pd

from kit.competitions import Competition
from kit.data._filelists import FileList, _folder, _images_under
from kit.data._load import data_file, label_indices, reading_csv
from kit.errors import KitError


def _read_labels(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise KitError(f"{path}: file not found (run `kit fetch` to create it, or set key files.train)")
    with reading_csv(path):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, low_memory=False)
    frame.columns = [str(column) for column in frame.columns]
    if frame.empty:
        raise KitError(f"{path}: has a header but no rows")
    return frame


def _need(path: Path, frame: pd.DataFrame, columns: list[str], competition: Competition) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise KitError(
            f"{path}: no column {missing[0]!r} (found {', '.join(frame.columns)}); set key columns.* or "
            f"images.pattern in {competition.where}"
        )


def _file_names(path: Path, frame: pd.DataFrame, competition: Competition) -> list[str]:
    """Each row's image file name, from ``images.pattern`` with the row's cells as fields."""
    pattern = competition.images.pattern
    fields = [field for _, field, _, _ in Formatter().parse(pattern) if field is not None]
    _need(path, frame, fields, competition)
    cells = {field: frame[field].map(str.strip).tolist() for field in fields}
    names = [pattern.format(**{field: cells[field][row] for field in fields}) for row in range(len(frame))]
    for row, name in enumerate(names):
        if not name or name.startswith("/") or ".." in Path(name).parts:
            raise KitError(f"{path}: line {row + 2}: image name {name!r} leads out of the image folder")
    return names


def _multilabel(path: Path, frame: pd.DataFrame, competition: Competition) -> np.ndarray:
    """The 0/1 label matrix: one column per label, or the label column's separated label names."""
    classes = [str(value) for value in competition.class_values]
    if competition.label_columns:
        _need(path, frame, list(competition.label_columns), competition)
        cells = frame[list(competition.label_columns)].map(str.strip)
        bad = ~cells.isin(["0", "1", "0.0", "1.0"])
        if bad.to_numpy().any():
            row, column = np.argwhere(bad.to_numpy())[0]
            raise KitError(
                f"{path}: line {row + 2}, column {cells.columns[column]}: {cells.iat[row, column]!r} is not 0 or 1"
            )
        matrix = cells.astype(float).to_numpy().astype(np.uint8)
    else:
        _need(path, frame, [competition.label_column], competition)
        lookup = {name: index for index, name in enumerate(classes)}
        matrix = np.zeros((len(frame), len(classes)), dtype=np.uint8)
        for row, text in enumerate(frame[competition.label_column]):
            for token in (part for part in text.split(competition.label_separator) if part.strip()):
                if token.strip() not in lookup:
                    raise KitError(
                        f"{path}: line {row + 2}, column {competition.label_column}: {token.strip()!r} is not a "
                        f"label ({competition.describe_classes()}); if it is one, add it to key classes in "
                        f"{competition.where}"
                    )
                matrix[row, lookup[token.strip()]] = 1
    empty = matrix.sum(axis=1) == 0
    if empty.any():
        row = int(np.argmax(empty))
        raise KitError(f"{path}: line {row + 2}: no label; every image of this competition needs at least one")
    return matrix


def _named_files(path: Path, frame: pd.DataFrame, root: Path, competition: Competition) -> list[Path]:
    """The image file each row of a CSV names, each once, each present."""
    names = _file_names(path, frame, competition)
    repeated = pd.Series(names).duplicated().to_numpy()
    if repeated.any():
        row = int(np.argmax(repeated))
        raise KitError(f"{path}: line {row + 2}: image {names[row]!r} appears twice; each image needs one row")
    paths = [root / name for name in names]
    for row, file in enumerate(paths):
        if not file.is_file():
            raise KitError(f"{path}: line {row + 2}: image file {file} not found; add it or remove the row")
    return paths


def _ids(path: Path, frame: pd.DataFrame, paths: list[Path], root: Path, competition: Competition) -> np.ndarray:
    """The id column (ints where every id is one), else each image's name in its folder."""
    from kit.data._load import id_values

    column = competition.test_id_column
    if column in frame.columns:
        return id_values(path, frame[column], column)
    return np.array([file.relative_to(root).as_posix() for file in paths], dtype=str)


def csv_test_files(data_dir: Path, competition: Competition) -> FileList:
    """The test images a test CSV names (in its row order) in the test folder."""
    path = data_file(data_dir, competition, "test", competition.test_file)
    frame = _read_labels(path)
    root = _folder(data_dir, competition.images.test, "test", competition)
    paths = _named_files(path, frame, root, competition)
    return FileList(tuple(paths), _ids(path, frame, paths, root, competition), None)


def csv_files(data_dir: Path, competition: Competition) -> FileList:
    """The images a labels CSV names, in its row order, checked against the files of the train folder."""
    path = data_file(data_dir, competition, "train", competition.train_file)
    frame = _read_labels(path)
    root = _folder(data_dir, competition.images.train, "train", competition)
    paths = _named_files(path, frame, root, competition)
    named = {file.relative_to(root).as_posix() for file in paths}
    if competition.images.test == competition.images.train:  # test images beside the training ones
        test = csv_test_files(data_dir, competition) if (data_dir / competition.test_file).is_file() else None
        named |= {file.relative_to(root).as_posix() for file in (test.paths if test else ())}
    unnamed = [file for file in _images_under(root) if file.relative_to(root).as_posix() not in named]
    if unnamed:
        more = f" (and {len(unnamed) - 1} more)" if len(unnamed) > 1 else ""
        raise KitError(f"{unnamed[0]}: no row of {path} names this image{more}; add its row or remove the file")
    if competition.multilabel:
        labels = _multilabel(path, frame, competition)
    else:
        _need(path, frame, [competition.label_column], competition)
        labels = label_indices(path, frame[competition.label_column], competition)
    groups = None
    if competition.group_column:
        _need(path, frame, [competition.group_column], competition)
        groups = frame[competition.group_column].map(str.strip).to_numpy(dtype=str)
    return FileList(tuple(paths), _ids(path, frame, paths, root, competition), labels, groups)
