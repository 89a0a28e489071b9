"""Read and validate competition CSVs into uint8 image arrays, class indices and ids.

Labels become class indices ``0..K-1`` in the order of the spec's class values (which may be integers with gaps or
strings); ids keep their type (int64, or a str array when they are not all integers). Every problem is one line
naming the file, line and column, or the spec key to set.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kit.competitions import Competition
from kit.data._demo import DEMO_DIR, write_demo_data
from kit.data._layouts import MAX_PIXEL, expected_columns, is_integer_frame, numeric_cells, pixel_values, to_images
from kit.errors import KitError

Progress = Callable[[int, int], None]  # (done, total), e.g. images decoded


class DemoDataWarning(UserWarning):
    """No data folder was given and the competition's is missing: kit trains on its embedded demo digits."""


__all__ = [
    "DEMO_DIR",
    "MAX_PIXEL",
    "DemoDataWarning",
    "ImageSet",
    "load_extra",
    "read_images",
    "resolve_data_dir",
    "write_demo_data",
]


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 ``(n, height, width, channels)`` (memory-mapped for image files), class indices (a 0/1
    ``(n, labels)`` matrix for multi-label; None for test), ids (int64 or str) and groups (None without a group
    column). ``source``: for images decoded into a cache, the cache's key (it changes with the files, their sizes
    and modification times, the target shape and the decoder), which fingerprints the pixels without reading them."""

    images: np.ndarray
    labels: np.ndarray | None
    ids: np.ndarray
    groups: np.ndarray | None = None
    source: str | None = None

    def __len__(self) -> int:
        return len(self.images)

    def fingerprint(self) -> str:
        """A short hash of the pixels (of a cached set: of its cache key, so no pixel is read) and labels, to tell
        whether two runs saw the same rows."""
        from kit.data._cache import chunked_sha256

        if self.source is not None:
            digest = hashlib.sha256(f"image cache {self.source}".encode())
        else:
            digest = chunked_sha256(self.images)  # the same hash as of ``images.tobytes()``, without the copy
        if self.labels is not None:
            digest.update(self.labels.astype(np.int64).tobytes())
        return digest.hexdigest()[:16]


@contextmanager
def reading_csv(path: Path) -> Iterator[None]:
    """Turn what pandas raises on a bad CSV into one line naming ``path``."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise KitError(f"{path}: empty file; expected a header line and one row per image") from None
    except pd.errors.ParserError as error:
        message = " ".join(str(error).split())
        raise KitError(f"{path}: malformed CSV ({message}); every line needs {_header_fields(path)} fields") from None
    except UnicodeDecodeError:
        raise KitError(f"{path}: not a text CSV file (cannot decode it as UTF-8)") from None
    except OSError as error:
        raise KitError(f"{path}: cannot read it ({error.strerror or error})") from None
    except (ValueError, OverflowError, TypeError) as error:
        raise KitError(f"{path}: cannot parse it as CSV ({' '.join(str(error).split())})") from None


def _read_frame(path: Path, competition: Competition) -> pd.DataFrame:
    """Read ``path`` as a frame with string column names, failing with one line on unreadable files."""
    if not path.is_file():
        raise KitError(f"{path}: file not found (run `kit demo-data` or `kit fetch` to create it)")
    text_columns = {competition.label_column, competition.test_id_column, *competition.ignore_columns}
    if competition.pixel_layout.kind == "string":
        text_columns.add(competition.pixel_layout.string)
    with reading_csv(path):
        try:
            if competition.pixel_layout.kind == "string":
                raise ValueError("a pixel string column is text")
            with warnings.catch_warnings():  # a float cell cast to int32 warns before it fails
                warnings.simplefilter("ignore", RuntimeWarning)
                frame = pd.read_csv(path, dtype=np.int32)
        except (ValueError, OverflowError, TypeError):  # not all integers: read again and let the checks name the cell
            frame = pd.read_csv(
                path,
                low_memory=False,
                keep_default_na=False,
                dtype={column: str for column in text_columns if column is not None},
            )
    frame.columns = [str(column) for column in frame.columns]
    return frame


def _header_fields(path: Path) -> str:
    """How many fields the header line has (for messages), or "as many as the header"."""
    import csv

    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return str(len(next(csv.reader(handle))))
    except (OSError, UnicodeDecodeError, StopIteration, csv.Error):
        return "as many as the header's"


def read_images(path: Path | str, competition: Competition, labelled: bool) -> ImageSet:
    """Read a train (``labelled``) or test CSV of ``competition`` into an :class:`ImageSet`."""
    path = Path(path)
    frame = _read_frame(path, competition)
    _, names = expected_columns(path, list(frame.columns), competition, labelled)
    if frame.empty:
        raise KitError(f"{path}: has a header but no rows")
    images = to_images(pixel_values(path, frame, names, competition), competition)
    labels = label_indices(path, frame[competition.label_column], competition) if labelled else None
    if competition.test_id_column and not labelled:
        ids = id_values(path, frame[competition.test_id_column], competition.test_id_column)
    else:
        ids = np.arange(competition.first_id, competition.first_id + len(frame), dtype=np.int64)
    return ImageSet(images=images, labels=labels, ids=ids)


def _not_a_class(path: Path, row: int, competition: Competition, value: object) -> KitError:
    values = competition.class_values
    if values == tuple(range(len(values))):
        allowed = f"integers 0–{len(values) - 1}"
    else:
        allowed = f"classes {competition.describe_classes()}"
    shown = value if isinstance(value, (int, np.integer)) else repr(value)
    return KitError(
        f"{path}: line {row + 2}, column {competition.label_column}: {shown} is not a class ({allowed}); "
        f"if it is one, add it to key classes in {competition.where}"
    )


def label_indices(path: Path, series: pd.Series, competition: Competition) -> np.ndarray:
    """The label column as class indices ``0..K-1`` (positions in the spec's class values)."""
    values = competition.class_values
    column = competition.label_column
    if competition.string_classes:
        raw = series.astype(object)
        if pd.api.types.is_integer_dtype(series):
            raw = series.map(str)
        missing = raw.isna().to_numpy() | (raw.map(lambda v: str(v).strip()) == "").to_numpy()
        if missing.any():
            row = int(np.argmax(missing))
            raise KitError(f"{path}: line {row + 2}, column {column}: empty cell; every image needs a label")
        lookup = {value: index for index, value in enumerate(values)}
        indices = raw.map(lambda v: lookup.get(v, lookup.get(str(v).strip(), -1))).to_numpy(dtype=np.int64)
        unknown = indices < 0
        if unknown.any():
            row = int(np.argmax(unknown))
            raise _not_a_class(path, row, competition, raw.iloc[row])
        return indices
    numbers = numeric_cells(path, series.to_frame())[:, 0]
    if numbers.dtype.kind == "f":
        odd = (numbers != np.floor(numbers)) | (np.abs(numbers) >= 2**62)
        if odd.any():
            row = int(np.argmax(odd))
            raise _not_a_class(path, row, competition, float(numbers[row]))
    numbers = numbers.astype(np.int64)
    if values == tuple(range(len(values))):
        indices, bad = numbers, (numbers < 0) | (numbers >= len(values))
    else:
        table = np.array(values, dtype=np.int64)
        order = np.argsort(table)
        position = np.clip(np.searchsorted(table[order], numbers), 0, len(table) - 1)
        indices, bad = order[position], table[order][position] != numbers
    if bad.any():
        row = int(np.argmax(bad))
        raise _not_a_class(path, row, competition, int(numbers[row]))
    return np.asarray(indices, dtype=np.int64)


def id_values(path: Path, series: pd.Series, column: str) -> np.ndarray:
    """An id column as int64 when every id is an integer, else as strings; each id once, none empty."""
    raw = series.astype(object)
    text = raw.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
    empty = (text == "").to_numpy()
    if empty.any():
        row = int(np.argmax(empty))
        raise KitError(f"{path}: line {row + 2}, column {column}: empty cell; every image needs an id")
    if is_integer_frame(series.to_frame()):
        ids = series.to_numpy().astype(np.int64)
    else:
        numbers = pd.to_numeric(text, errors="coerce")
        canonical = numbers.notna().all() and (numbers.abs() < 2**53).all() and (numbers == numbers.round()).all()
        as_ints = numbers.astype(np.int64).astype(str) if canonical else None
        if canonical and (as_ints.to_numpy() == text.to_numpy()).all():
            ids = numbers.to_numpy().astype(np.int64)
        else:
            ids = text.to_numpy(dtype=str)
    repeated = pd.Series(ids).duplicated().to_numpy()
    if repeated.any():
        row = int(np.argmax(repeated))
        raise KitError(f"{path}: line {row + 2}, column {column}: id {ids[row]} appears twice; ids must be unique")
    return ids


def data_file(data_dir: Path | str, competition: Competition, key: str, name: str) -> Path:
    """``data_dir``/``name``, the file of spec key ``files.<key>``: refused with one line naming the spec and the key
    when the name leads out of the data folder (absolute, or through ``..``)."""
    from kit.competitions._spec import outside_folder

    if outside_folder(name):
        raise KitError(f"{competition.where}: key files.{key}: {name!r} is outside the data folder {data_dir}")
    return Path(data_dir) / name


def load_extra(data_dir: Path | str, competition: Competition) -> dict[str, ImageSet]:
    """The extra labelled files of a competition folder (e.g. Kannada-MNIST's Dig-MNIST.csv) that are present."""
    paths = {name: data_file(data_dir, competition, "extra", name) for name in competition.extra_files}
    return {name: read_images(path, competition, labelled=True) for name, path in paths.items() if path.is_file()}


def resolve_data_dir(data_dir: Path | str | None, competition: Competition) -> Path:
    """The folder to train on: the one given, else ``data/<competition>`` if fetched, else the demo data."""
    if data_dir is not None:
        return Path(data_dir)
    fetched = Path("data") / competition.name
    if competition.images is not None:
        if (fetched / competition.images.train).is_dir():
            return fetched
        raise KitError(f"{fetched}: not found; give the competition folder with --data, or run `kit fetch`")
    if (fetched / competition.train_file).is_file():
        return fetched
    if not (DEMO_DIR / competition.train_file).is_file():
        write_demo_data(DEMO_DIR, competition)
    warnings.warn(
        f"no data folder given and no {fetched}/: using kit's embedded demo digits in {DEMO_DIR}/ (runs labelled "
        "demo); give the competition folder with --data, or run `kit fetch`",
        DemoDataWarning,
        stacklevel=2,
    )
    return DEMO_DIR
