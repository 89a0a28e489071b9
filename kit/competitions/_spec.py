"""Competition specs: how a pixel-CSV competition lays out its files, read from small validated TOML files.

A spec names the files (train, test, sample submission, extra labelled files), the label and id columns, the pixel
layout (columns by prefix, pattern or list, all other columns, or one space-separated string column), the image shape,
the class values as they appear in the data, the submission columns and the metric. Shipped specs live in
``kit/competitions/shipped``; a user's in ``./competitions/NAME.toml`` (shadowing shipped ones) or beside the data as
``DATA/competition.toml`` (which wins for that folder). Validation lives in :mod:`kit.competitions._specfile`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any, Literal

from kit.competitions._metrics import METRIC_NAMES

if TYPE_CHECKING:
    import numpy as np

DEFAULT_COMPETITION = "digit-recognizer"
SPEC_SUFFIX = ".toml"
BESIDE_DATA = "competition.toml"
USER_DIR = Path("competitions")
METRICS = METRIC_NAMES  # the names a spec may give as its metric
LayoutKind = Literal["prefix", "pattern", "columns", "string", "rest"]
FileLayout = Literal["folders", "csv", "filename"]  # class per folder, a labels CSV + a folder, the label in the name
Task = Literal["single", "binary", "multilabel", "ordinal"]
SubmissionKind = Literal["label", "probability", "probabilities", "top_k"]
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # a name that becomes a folder (data/NAME) or a file name
SLUG_RULE = "a name of letters, digits, '-', '_' and '.' (starting with a letter or digit, at most 100), e.g. my-comp"


def is_slug(name: Any) -> bool:
    """Whether ``name`` can become a folder or file name as it is: no path, no ``..``, nothing hidden."""
    return isinstance(name, str) and SLUG.fullmatch(name) is not None and ".." not in name


def slug_of(text: str) -> str:
    """``text`` made a slug (runs of other characters become ``-``), e.g. a folder's name as a competition name."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).replace("..", "-").strip("-._")[:100]
    return slug or "competition"


def outside_folder(name: str) -> bool:
    """Whether a file name of a spec would leave its data folder: absolute, a drive, ``..``, or empty."""
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    parts = (*posix.parts, *windows.parts)
    return not name.strip() or posix.is_absolute() or bool(windows.drive or windows.root) or ".." in parts


@dataclass(frozen=True)
class PixelLayout:
    """Where the pixels sit in a row: ``kind`` is prefix (``pixel0…``), pattern (``{row}x{col}`` from ``start``),
    columns (an explicit list), string (one column of space-separated values) or rest (every other column)."""

    kind: LayoutKind = "prefix"
    prefix: str = "pixel"
    pattern: str = ""
    start: int = 0
    columns: tuple[str, ...] = ()
    string: str = ""

    def names(self, shape: tuple[int, int, int], order: str = "hwc") -> list[str] | None:
        """The pixel column names in storage order (one name for a string column), or None for ``rest``."""
        if self.kind == "string":
            return [self.string]
        if self.kind == "rest":
            return None
        if self.kind == "columns":
            return list(self.columns)
        height, width, channels = shape
        pattern = self.pattern if self.kind == "pattern" else self.prefix.replace("{", "{{").replace("}", "}}") + "{i}"
        cells = [(r, c, ch) for r in range(height) for c in range(width) for ch in range(channels)]
        if order == "chw":
            cells.sort(key=lambda cell: (cell[2], cell[0], cell[1]))
        s = self.start
        return [
            pattern.format(i=flat + s, row=r + s, col=c + s, channel=ch + s) for flat, (r, c, ch) in enumerate(cells)
        ]

    def describe(self) -> str:
        return {
            "prefix": f"columns {self.prefix}{self.start}…",
            "pattern": f"columns named {self.pattern!r} from {self.start}",
            "columns": f"{len(self.columns)} listed columns",
            "string": f"column {self.string} (space-separated)",
            "rest": "every column besides label, id and ignored ones",
        }[self.kind]


@dataclass(frozen=True)
class ImageFiles:
    """Where the images of an image-file competition are, and how they become arrays.

    ``layout`` is ``folders`` (``train/<class>/…``: the class is the folder's name as written), ``csv`` (a labels CSV,
    the spec's train file, naming each image through ``pattern``, e.g. ``{id}.png`` or ``{id_code}.png`` with CSV
    column names as fields) or ``filename`` (the label in the file name: ``pattern`` such as ``{label}.{n}.jpg``,
    where ``{label}`` is the class and every other field matches anything). Test images are the image files of
    ``test``; each one's id is its file name (``test_ids = "name"``) or the name without its suffix (``"stem"``).
    ``resize`` squashes every image to the spec's size or keeps its aspect ratio and pads (``"pad"``).
    """

    layout: FileLayout = "folders"
    train: str = "train"
    test: str = "test"
    pattern: str = ""
    test_ids: Literal["name", "stem"] = "name"
    resize: Literal["squash", "pad"] = "squash"

    def describe(self) -> str:
        return {
            "folders": f"one folder per class under {self.train}/",
            "csv": f"a labels CSV naming images {self.train}/{self.pattern}",
            "filename": f"the label in the file names {self.train}/{self.pattern}",
        }[self.layout]


@dataclass(frozen=True)
class Competition:
    """How one competition lays out its files: pixel CSVs (``images`` None) or image files (``images``).

    ``test_id_column`` is the id column of the test file (None when ids are implicit row numbers starting at
    ``first_id``); ``class_values`` are the labels as they appear in the data (ints or strings), and the model's
    class index ``k`` stands for ``class_values[k]``. ``task`` is ``single`` (one class per image), ``binary`` (two
    classes, usually scored on the probability of the second), ``ordinal`` (grades in order) or ``multilabel`` (any
    number of ``class_values`` per image: one 0/1 column each in ``label_columns``, or the label column holding them
    separated by ``label_separator``). The submission carries ``submission_columns``: id then one label
    (``submission_kind = "label"``), the probability of ``class_values[1]`` (``"probability"``), one probability per
    class (``"probabilities"``) or up to ``top_k`` labels separated by spaces (``"top_k"``). ``group_column`` names
    a column (patient, study, source image) whose groups folds never split.
    """

    name: str
    image_shape: tuple[int, int, int] = (28, 28, 1)
    class_values: tuple[Any, ...] = tuple(range(10))
    label_column: str = "label"
    pixel_layout: PixelLayout = field(default_factory=PixelLayout)
    channel_order: Literal["hwc", "chw"] = "hwc"
    test_id_column: str | None = None
    first_id: int = 1
    submission_columns: tuple[str, ...] = ("ImageId", "Label")
    train_file: str = "train.csv"
    test_file: str = "test.csv"
    sample_submission_file: str = "sample_submission.csv"
    solution_file: str = "solution.csv"
    extra_files: tuple[str, ...] = ()
    test_labels: bool = False
    ignore_columns: tuple[str, ...] = ()
    metric: str = "accuracy"
    description: str = ""
    source: str = ""
    images: ImageFiles | None = None
    task: Task = "single"
    label_columns: tuple[str, ...] = ()
    label_separator: str = " "
    group_column: str | None = None
    submission_kind: SubmissionKind = "label"
    top_k: int = 5

    @property
    def multilabel(self) -> bool:
        return self.task == "multilabel"

    def source_of(self, part: str) -> str:
        """Where the ``part`` ("train" or "test") images are in the data folder: a CSV, or an image folder."""
        if self.images is not None:
            return self.images.train if part == "train" else self.images.test
        return self.train_file if part == "train" else self.test_file

    @property
    def classes(self) -> int:
        """The number of classes."""
        return len(self.class_values)

    @property
    def pixels(self) -> int:
        height, width, channels = self.image_shape
        return height * width * channels

    @property
    def pixel_columns(self) -> list[str] | None:
        """The pixel columns in storage order (the one string column for that layout; None for "every other")."""
        return self.pixel_layout.names(self.image_shape, self.channel_order)

    @property
    def train_columns(self) -> list[str]:
        return [self.label_column, *(self.pixel_columns or [])]

    @property
    def where(self) -> str:
        """The spec file to edit, for error messages (a shipped spec is copied to ./competitions first)."""
        if Path(self.source).parent == shipped_dir():
            return f"competitions/{self.name}.toml (a copy of the shipped {Path(self.source).name}, which it shadows)"
        return self.source or f"the {self.name} spec"

    @property
    def string_classes(self) -> bool:
        return any(isinstance(value, str) for value in self.class_values)

    def class_values_of(self, indices: np.ndarray) -> np.ndarray:
        """Class indices ``0..K-1`` mapped back to the labels as they appear in the data (for submissions)."""
        return class_values_of(self, indices)

    def describe_classes(self) -> str:
        return describe_values(self.class_values)


def class_values_of(competition: Competition, indices: np.ndarray) -> np.ndarray:
    """Class indices ``0..K-1`` → the original label values (an int64 array, or a str array for string classes)."""
    import numpy as np

    indices = np.asarray(indices).astype(np.int64)
    values = competition.class_values
    table = np.array(values, dtype=str if competition.string_classes else np.int64)
    return table[indices]


def describe_values(values: tuple[Any, ...]) -> str:
    """``0–8, 10–24`` for integer runs, else the first few values."""
    if values and all(isinstance(value, int) for value in values):
        runs, start = [], values[0]
        for previous, value in zip(values, (*values[1:], None)):
            if value is None or value != previous + 1:
                runs.append(f"{start}–{previous}" if previous != start else f"{start}")
                start = value
        return ", ".join(runs)
    shown = ", ".join(repr(value) for value in values[:6])
    return shown + (f", … ({len(values)} in all)" if len(values) > 6 else "")


def shipped_dir() -> Path:
    """The competition specs that ship inside the package."""
    from importlib.resources import files

    return Path(str(files("kit.competitions") / "shipped"))
