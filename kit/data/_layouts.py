"""Pixel layouts of CSV rows: which columns a file must have, and the checked pixel values out of them.

Every problem is one line naming the file, the line and the column (or the spec key to fix), never a traceback.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from kit.competitions import Competition
from kit.errors import KitError

MAX_PIXEL = 255


def shape_text(competition: Competition) -> str:
    height, width, channels = competition.image_shape
    return f"{height}×{width}×{channels}"


def expected_columns(
    path: Path, header: list[str], competition: Competition, labelled: bool
) -> tuple[list[str], list[str]]:
    """The columns a file must have (label or id first, then the pixels) and its pixel columns in storage order.

    Ignored columns may be present or not; a train file may carry the id column too.
    """
    label, id_column = competition.label_column, competition.test_id_column
    leading = [label] if labelled else ([id_column] if id_column else [])
    optional = set(competition.ignore_columns) | ({id_column} if labelled and id_column else set())
    if not labelled and competition.test_labels:
        optional.add(label)
    names = competition.pixel_columns
    if names is None:  # every other column holds a pixel
        names = [name for name in header if name not in (label, id_column) and name not in optional]
        if not labelled and label in header and not competition.test_labels:
            raise KitError(f"{path}: unexpected column {label!r}; a test file carries no labels")
        if len(names) != competition.pixels:
            raise KitError(
                f"{path}: {len(names)} pixel columns (every column besides label, id and ignored ones), but the image "
                f"{shape_text(competition)} needs {competition.pixels}: set image.height, image.width, image.channels "
                f"in {competition.where}"
            )
    columns = [*leading, *names]
    missing = [column for column in columns if column not in header]
    extra = [column for column in header if column not in columns and column not in optional]
    hint = _shape_hint(header, competition, leading)
    if missing:
        raise KitError(
            f"{path}: missing column {missing[0]}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            + f"; expected {columns[0]}, …, {columns[-1]} ({len(columns)} columns, found {len(header)}){hint}"
        )
    if extra:
        raise KitError(f"{path}: unexpected column {extra[0]!r}; expected exactly {columns[0]}, …, {columns[-1]}{hint}")
    return columns, names


def _shape_hint(header: list[str], competition: Competition, leading: list[str]) -> str:
    """When the file's pixel-like columns are a different count than the spec's image shape, say which keys to set."""
    layout = competition.pixel_layout
    if layout.kind not in ("prefix", "pattern"):
        return ""
    if layout.kind == "prefix":
        found = sum(1 for name in header if name.startswith(layout.prefix) and name[len(layout.prefix) :].isdigit())
    else:
        found = len([name for name in header if name not in leading and name not in competition.ignore_columns])
    if found in (0, competition.pixels):
        return ""
    return (
        f"; the file has {found} pixel columns but image {shape_text(competition)} is {competition.pixels}: "
        f"set image.height, image.width, image.channels in {competition.where}"
    )


def is_integer_frame(frame: pd.DataFrame) -> bool:
    return all(pd.api.types.is_integer_dtype(dtype) for dtype in frame.dtypes)


def numeric_cells(path: Path, frame: pd.DataFrame) -> np.ndarray:
    """The frame as finite numbers; fails on the first empty, non-numeric or infinite cell, naming line and column."""
    if is_integer_frame(frame):
        return frame.to_numpy()
    values = np.empty(frame.shape, dtype=np.float64)
    for position, column in enumerate(frame.columns):
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            text = series.astype(object)
            empty = text.isna().to_numpy() | np.array([isinstance(v, str) and not v.strip() for v in text], dtype=bool)
            if empty.any():
                row = int(np.argmax(empty))
                raise KitError(f"{path}: line {row + 2}, column {column}: empty cell (NaN); every cell needs a value")
            numbers = pd.to_numeric(text.map(_strip), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.isnan(numbers) & ~np.array([_says_nan(v) for v in text], dtype=bool)
            if bad.any():
                row = int(np.argmax(bad))
                raise KitError(f"{path}: line {row + 2}, column {column}: {text.iloc[row]!r} is not a number")
        values[:, position] = numbers
    not_finite = ~np.isfinite(values)
    if not_finite.any():
        row, col = np.argwhere(not_finite)[0]
        raw = frame.iloc[row, col]
        if pd.isna(raw) or (isinstance(raw, str) and raw.strip().lower() in ("nan", "-nan", "+nan")):
            raise KitError(
                f"{path}: line {row + 2}, column {frame.columns[col]}: empty cell (NaN); every cell needs a value"
            )
        raise KitError(f"{path}: line {row + 2}, column {frame.columns[col]}: {_shown(raw)} is not a finite number")
    return values


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _says_nan(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower() in ("nan", "-nan", "+nan")


def _shown(value: object) -> str:
    """A cell as the message shows it: whole floats as integers, strings quoted."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value)


def check_range(path: Path, values: np.ndarray, columns: list[str], high: int, what: str) -> None:
    """Fail on the first value that is not an integer in ``0..high``."""
    bad = (values < 0) | (values > high)
    if not np.issubdtype(values.dtype, np.integer):
        bad |= values != np.floor(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise KitError(
            f"{path}: line {row + 2}, column {columns[col]}: {_shown(values[row, col])} is not {what} "
            f"(integers 0–{high})"
        )


def pixel_values(path: Path, frame: pd.DataFrame, names: list[str], competition: Competition) -> np.ndarray:
    """Checked pixel values (integers 0–255), one row per image in storage order."""
    if competition.pixel_layout.kind == "string":
        return string_pixels(path, frame[names[0]], names[0], competition)
    pixels = numeric_cells(path, frame[names])
    check_range(path, pixels, names, MAX_PIXEL, "a pixel value")
    return pixels


def string_pixels(path: Path, series: pd.Series, column: str, competition: Competition) -> np.ndarray:
    """The pixels of a column holding each image as space-separated values (the FER-2013 layout)."""
    count = competition.pixels
    texts = series.astype(object)
    quick = _all_at_once(texts, count)
    if quick is not None:
        return quick
    out = np.empty((len(series), count), dtype=np.uint8)
    for row, text in enumerate(texts):
        where = f"{path}: line {row + 2}, column {column}"
        if not isinstance(text, str) or not text.strip():
            if isinstance(text, (int, float, np.number)) and not pd.isna(text) and count == 1:
                text = str(text)
            else:
                raise KitError(f"{where}: empty cell; expected {count} space-separated pixel values")
        try:
            values = np.fromstring(text, dtype=np.float64, sep=" ")
        except ValueError:
            values = None
        if values is None or values.size != count:
            tokens = text.split()
            if len(tokens) != count:
                raise KitError(
                    f"{where}: {len(tokens)} values, but the image {shape_text(competition)} needs {count}: "
                    f"set image.height, image.width, image.channels in {competition.where}"
                )
            bad = next((token for token in tokens if not _is_number(token)), tokens[0])
            raise KitError(f"{where}: {bad!r} is not a pixel value (integers 0–{MAX_PIXEL})")
        wrong = ~np.isfinite(values) | (values < 0) | (values > MAX_PIXEL) | (values != np.floor(values))
        if wrong.any():
            index = int(np.argmax(wrong))
            raise KitError(
                f"{where}: value {index + 1} ({text.split()[index]}) is not a pixel value (integers 0–{MAX_PIXEL})"
            )
        out[row] = values
    return out


def _all_at_once(texts: pd.Series, count: int) -> np.ndarray | None:
    """The pixel strings parsed by pandas' C tokenizer in one go, or None when any row is not ``count`` integers 0–255
    (then the slow way finds and names the row)."""
    import io

    if not all(isinstance(text, str) and text.strip() for text in texts):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = pd.read_csv(
                io.StringIO("\n".join(text.strip() for text in texts)),
                sep=r"\s+",
                header=None,
                dtype=np.int32,
                skip_blank_lines=False,
                engine="c",
            ).to_numpy()
    except (ValueError, OverflowError, TypeError, pd.errors.ParserError):
        return None
    if values.shape != (len(texts), count) or (values < 0).any() or (values > MAX_PIXEL).any():
        return None
    return values.astype(np.uint8)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def to_images(pixels: np.ndarray, competition: Competition) -> np.ndarray:
    """Rows of pixel values in storage order → uint8 images ``(n, height, width, channels)``."""
    height, width, channels = competition.image_shape
    rows = len(pixels)
    if competition.channel_order == "chw":
        return np.ascontiguousarray(
            pixels.astype(np.uint8).reshape(rows, channels, height, width).transpose(0, 2, 3, 1)
        )
    return pixels.astype(np.uint8).reshape(rows, height, width, channels)


def from_images(images: np.ndarray, competition: Competition) -> np.ndarray:
    """The inverse of :func:`to_images`: images → rows of pixel values in storage order."""
    if competition.channel_order == "chw":
        images = images.transpose(0, 3, 1, 2)
    return images.reshape(len(images), -1)
