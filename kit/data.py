"""Read and validate competition CSVs into uint8 image arrays; build the embedded demo data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kit.competitions import DEFAULT_COMPETITION, Competition, get_competition
from kit.errors import KitError

DEMO_DIR = Path("data/demo")
MAX_PIXEL = 255


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 ``(n, height, width, channels)``, integer labels (None for test) and ids."""

    images: np.ndarray
    labels: np.ndarray | None
    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def fingerprint(self) -> str:
        """A short hash of the pixels and labels, to tell whether two runs saw the same rows."""
        digest = hashlib.sha256(self.images.tobytes())
        if self.labels is not None:
            digest.update(self.labels.astype(np.int64).tobytes())
        return digest.hexdigest()[:16]


def _read_frame(path: Path, columns: list[str]) -> pd.DataFrame:
    """Read ``path`` and return its ``columns`` in order, failing on unreadable or misshapen files."""
    if not path.is_file():
        raise KitError(f"{path}: file not found (run `kit demo-data` or `kit fetch` to create it)")
    try:
        try:
            frame = pd.read_csv(path, dtype=np.int32)
        except (ValueError, OverflowError):  # not all integers: read as is and let the checks name the cell
            frame = pd.read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        raise KitError(f"{path}: empty file; expected a header line and one row per image") from None
    except pd.errors.ParserError as error:
        raise KitError(f"{path}: malformed CSV ({str(error).strip()}); every line needs {len(columns)} fields") from None
    except UnicodeDecodeError:
        raise KitError(f"{path}: not a text CSV file (cannot decode it as UTF-8)") from None
    except OSError as error:
        raise KitError(f"{path}: cannot read it ({error.strerror or error})") from None
    found = [str(column) for column in frame.columns]
    missing = [column for column in columns if column not in found]
    extra = [column for column in found if column not in columns]
    if missing:
        raise KitError(
            f"{path}: missing column {missing[0]}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            + f"; expected {columns[0]}, …, {columns[-1]} ({len(columns)} columns, found {len(found)})"
        )
    if extra:
        raise KitError(f"{path}: unexpected column {extra[0]!r}; expected exactly {columns[0]}, …, {columns[-1]}")
    if frame.empty:
        raise KitError(f"{path}: has a header but no rows")
    return frame[columns]


def _numeric_values(path: Path, frame: pd.DataFrame) -> np.ndarray:
    """The frame as numbers, failing on the first non-numeric or empty cell with its line and column."""
    if all(pd.api.types.is_integer_dtype(dtype) for dtype in frame.dtypes):
        return frame.to_numpy()
    for column in frame.columns:
        series = frame[column]
        if not pd.api.types.is_numeric_dtype(series):
            numbers = pd.to_numeric(series, errors="coerce")
            bad = numbers.isna() & series.notna()
            if bad.any():
                row = int(np.argmax(bad.to_numpy()))
                raise KitError(f"{path}: line {row + 2}, column {column}: {series.iloc[row]!r} is not a number")
    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    empty = np.isnan(values)
    if empty.any():
        row, col = np.argwhere(empty)[0]
        raise KitError(f"{path}: line {row + 2}, column {frame.columns[col]}: empty cell (NaN); every cell needs a value")
    return values


def _check_range(path: Path, values: np.ndarray, columns: list[str], high: int, what: str) -> None:
    """Fail on the first value that is not an integer in ``0..high``."""
    bad = (values < 0) | (values > high)
    if not np.issubdtype(values.dtype, np.integer):
        bad |= values != np.floor(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        value = values[row, col]
        shown = int(value) if value == int(value) else value
        raise KitError(f"{path}: line {row + 2}, column {columns[col]}: {shown} is not {what} (integers 0–{high})")


def read_images(path: Path | str, competition: Competition, labelled: bool) -> ImageSet:
    """Read a train (``labelled``) or test CSV of ``competition`` into an :class:`ImageSet`."""
    path = Path(path)
    columns = competition.train_columns if labelled else competition.test_columns
    frame = _read_frame(path, columns)
    pixel_columns = competition.pixel_columns
    pixels = _numeric_values(path, frame[pixel_columns])
    _check_range(path, pixels, pixel_columns, MAX_PIXEL, "a pixel value")
    images = pixels.astype(np.uint8).reshape(len(frame), *competition.image_shape)
    del pixels
    labels = None
    if labelled:
        label_values = _numeric_values(path, frame[[competition.label_column]])
        _check_range(path, label_values, [competition.label_column], competition.classes - 1, "a class")
        labels = label_values[:, 0].astype(np.int64)
    if competition.test_id_column and not labelled:
        ids = _numeric_values(path, frame[[competition.test_id_column]])[:, 0].astype(np.int64)
    else:
        ids = np.arange(competition.first_id, competition.first_id + len(frame), dtype=np.int64)
    return ImageSet(images=images, labels=labels, ids=ids)


def load_train(data_dir: Path | str, competition: Competition) -> ImageSet:
    """The labelled training images of a competition folder."""
    return read_images(Path(data_dir) / competition.train_file, competition, labelled=True)


def load_test(data_dir: Path | str, competition: Competition) -> ImageSet:
    """The unlabelled test images of a competition folder."""
    return read_images(Path(data_dir) / competition.test_file, competition, labelled=False)


def resolve_data_dir(data_dir: Path | str | None, competition: Competition) -> Path:
    """The folder to train on: the one given, else ``data/<competition>`` if fetched, else the demo data."""
    if data_dir is not None:
        return Path(data_dir)
    fetched = Path("data") / competition.name
    if (fetched / competition.train_file).is_file():
        return fetched
    if not (DEMO_DIR / competition.train_file).is_file():
        write_demo_data(DEMO_DIR, competition)
    return DEMO_DIR


def _digits_as_competition_images(competition: Competition) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 real 8×8 handwritten digits, resized and centred like MNIST (20×20 in 28×28)."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    digits = load_digits()
    height, width, channels = competition.image_shape
    inner = (height * 5 // 7, width * 5 // 7)
    scaled = zoom(digits.images.astype(np.float64) * (MAX_PIXEL / 16.0), (1, inner[0] / 8, inner[1] / 8), order=1)
    top, left = (height - inner[0]) // 2, (width - inner[1]) // 2
    images = np.zeros((len(scaled), height, width), dtype=np.uint8)
    images[:, top : top + inner[0], left : left + inner[1]] = np.clip(np.rint(scaled), 0, MAX_PIXEL)
    images = np.repeat(images[..., None], channels, axis=-1)
    return images, digits.target.astype(np.int64)


def write_demo_data(
    dest: Path | str = DEMO_DIR,
    competition: Competition | None = None,
    test_size: int = 297,
    seed: int = 0,
) -> Path:
    """Write a competition-format folder of real handwritten digits, with test answers in ``solution.csv``."""
    from sklearn.model_selection import train_test_split

    competition = competition or get_competition(DEFAULT_COMPETITION)
    dest = Path(dest)
    images, labels = _digits_as_competition_images(competition)
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    dest.mkdir(parents=True, exist_ok=True)
    pixels = competition.pixel_columns
    train = pd.DataFrame(train_x.reshape(len(train_x), -1), columns=pixels)
    train.insert(0, competition.label_column, train_y)
    test = pd.DataFrame(test_x.reshape(len(test_x), -1), columns=pixels)
    ids = np.arange(competition.first_id, competition.first_id + len(test_x))
    if competition.test_id_column:
        test.insert(0, competition.test_id_column, ids)
    id_column, label_column = competition.submission_columns
    files = {
        competition.train_file: train,
        competition.test_file: test,
        competition.sample_submission_file: pd.DataFrame({id_column: ids, label_column: 0}),
        "solution.csv": pd.DataFrame({id_column: ids, label_column: test_y}),
    }
    for name, frame in files.items():
        temporary = dest / f".{name}.tmp"
        frame.to_csv(temporary, index=False)
        temporary.replace(dest / name)
    return dest
