"""The embedded demo data: scikit-learn's real handwritten digits written as a competition folder in any spec's layout.

Digit ``k`` stands for the spec's ``k``-th class value (digits past the number of classes are left out), so the same
generator builds fixtures for every layout: prefix or pattern columns, a space-separated pixel string, RGB, non-square
shapes, gapped or string labels, and ids of any type.

It writes only into an empty folder or one holding nothing but kit's demo files (those it recorded in
``.kit-demo.json``, or files identical to what it writes now): never over a real competition's data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kit.competitions import DEFAULT_COMPETITION, Competition, class_values_of, get_competition
from kit.errors import ANOTHER, KitError
from kit.utils import read_json, renamed, write_bytes_atomic, write_json
from kit.utils._io import is_temporary, os_error, remove_temporary

DEMO_DIR = Path("data/demo")
MAX_PIXEL = 255
MARKER = ".kit-demo.json"  # the demo files kit wrote in a folder (name -> sha256): those it may write again
DATASET_KEY = "@dataset"  # the marker's entry naming the data set (not a file: no file name starts with @ here)


def digit_images(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 real 8×8 handwritten digits, resized and centred like MNIST (20×20 in 28×28)."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    digits = load_digits()
    height, width, channels = shape
    inner = (max(1, height * 5 // 7), max(1, width * 5 // 7))
    scaled = zoom(digits.images.astype(np.float64) * (MAX_PIXEL / 16.0), (1, inner[0] / 8, inner[1] / 8), order=1)
    top, left = (height - inner[0]) // 2, (width - inner[1]) // 2
    images = np.zeros((len(scaled), height, width), dtype=np.uint8)
    images[:, top : top + inner[0], left : left + inner[1]] = np.clip(np.rint(scaled), 0, MAX_PIXEL)
    images = np.repeat(images[..., None], channels, axis=-1)
    if channels > 1:  # tint the channels apart, so a colour layout read in the wrong order shows
        images = (images.astype(np.float64) * np.linspace(1.0, 0.5, channels)).astype(np.uint8)
    return images, digits.target.astype(np.int64)


def _shapes(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    from kit.data._demoshapes import shape_images

    return shape_images(shape)


DATASETS = {"digits": digit_images, "shapes": _shapes}  # kit demo-data --dataset: name -> (images, labels) of a shape
TEST_ROWS = {"digits": 297, "shapes": 1000}


def _pixel_frame(images: np.ndarray, competition: Competition):
    """The pixel columns of ``images`` in the competition's layout, as a DataFrame."""
    import pandas as pd

    from kit.data._layouts import from_images

    rows = from_images(images, competition)
    layout = competition.pixel_layout
    if layout.kind == "string":
        return pd.DataFrame({layout.string: [" ".join(map(str, row)) for row in rows]})
    names = competition.pixel_columns or [f"px{i}" for i in range(competition.pixels)]
    return pd.DataFrame(rows, columns=names)


@renamed(dest="out")
def write_demo_data(
    out: Path | str = DEMO_DIR,
    competition: Competition | None = None,
    test_size: int | None = None,
    seed: int = 0,
    rows: int | None = None,
    test_ids: Sequence | None = None,
    dataset: str = "digits",
) -> Path:
    """Write a competition-format folder of real handwritten digits (or, with ``dataset="shapes"``, kit's generated
    shapes: :mod:`kit.data._demoshapes`) into ``out``, with test answers in ``solution.csv``.

    ``test_size`` rows are held out (297 digits, 1,000 of the 5,000 shapes); ``rows`` caps the images used (train +
    test); ``test_ids`` replaces the test ids (any type, in that order).
    """
    import pandas as pd
    from sklearn.model_selection import train_test_split

    competition = competition or get_competition(DEFAULT_COMPETITION)
    dest = Path(out)
    if dataset not in DATASETS:
        raise KitError.invalid("dataset", f"one of {', '.join(DATASETS)}", dataset)
    images, labels = DATASETS[dataset](competition.image_shape)
    test_size = test_size or TEST_ROWS[dataset]
    keep = labels < competition.classes
    images, labels = images[keep], labels[keep]
    if rows is not None and rows < len(labels):
        images, _, labels, _ = train_test_split(images, labels, train_size=rows, random_state=seed, stratify=labels)
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    label_column = competition.label_column
    train = _pixel_frame(train_x, competition)
    train.insert(0, label_column, class_values_of(competition, train_y))
    test = _pixel_frame(test_x, competition)
    for column in competition.ignore_columns:
        train[column] = "Training"
        test[column] = "PublicTest"
    ids = np.arange(competition.first_id, competition.first_id + len(test_x)) if test_ids is None else list(test_ids)
    answers = class_values_of(competition, test_y)
    if competition.test_labels:
        test.insert(0, label_column, answers)
    if competition.test_id_column:
        test.insert(0, competition.test_id_column, ids)
    id_column, submission_label = competition.submission_columns
    files = {
        competition.train_file: train,
        competition.test_file: test,
        competition.sample_submission_file: pd.DataFrame(
            {id_column: ids, submission_label: class_values_of(competition, np.zeros(len(ids), dtype=np.int64))}
        ),
        competition.solution_file: pd.DataFrame({id_column: ids, submission_label: answers}),
    }
    for extra in competition.extra_files:  # the test digits again, labelled, as an extra file
        labelled = _pixel_frame(test_x, competition)
        labelled.insert(0, label_column, answers)
        files[extra] = labelled
    _write_files(dest, {name: frame.to_csv(index=False).encode() for name, frame in files.items()}, dataset)
    return dest


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _own_files(dest: Path, contents: dict[str, bytes]) -> dict[str, str]:
    """The demo files kit recorded in ``dest`` (name -> digest); fails with one line if ``dest`` cannot hold demo data
    (a file, unreadable) or holds anything else: kit never writes over other data."""
    if dest.exists() and not dest.is_dir():
        raise KitError(f"{dest} exists and is not a folder; give a folder for the demo data", fix=("out", ANOTHER))
    if not dest.exists():
        return {}
    recorded = read_json(dest / MARKER, dict) if (dest / MARKER).is_file() else {}
    others = []
    for path in sorted(dest.rglob("*")):
        name = path.relative_to(dest).as_posix()
        if (path.is_dir() and not path.is_symlink()) or name == MARKER or is_temporary(path):
            continue  # kit's own temporaries (a killed write's) are replaced too
        known = {recorded.get(name), _digest(contents[name]) if name in contents else None} - {None}
        if not known or path.is_symlink() or not path.is_file() or _digest(path.read_bytes()) not in known:
            others.append(name)
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise KitError(
            f"{dest}: holds other files than kit's demo data ({shown}); demo data is written only into an empty "
            "folder or one of kit's demo folders, nothing was changed",
            fix=("out", ANOTHER),
        )
    return {name: digest for name, digest in recorded.items() if isinstance(digest, str)}


def _write_files(dest: Path, contents: dict[str, bytes], dataset: str = "digits") -> None:
    """Write the demo files atomically, recording them in the marker (before: what may be there; after: what is)
    with the data set's name under :data:`DATASET_KEY` (its runs' label: :func:`kit.crossval.run_label`)."""
    try:
        recorded = _own_files(dest, contents)
        dest.mkdir(parents=True, exist_ok=True)
        remove_temporary(dest)
    except OSError as error:
        raise os_error(Path(error.filename or dest), error, "cannot write there") from None
    digests = {name: _digest(data) for name, data in contents.items()}
    write_json(dest / MARKER, {**recorded, **digests})  # a write killed midway leaves files kit may write again
    for name, data in contents.items():
        write_bytes_atomic(dest / name, data)
    write_json(dest / MARKER, {**digests, DATASET_KEY: dataset})
