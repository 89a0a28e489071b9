"""The embedded demo data: scikit-learn's real handwritten digits written as a competition folder in any spec's layout.

Digit ``k`` stands for the spec's ``k``-th class value (digits past the number of classes are left out), so the same
generator builds fixtures for every layout: prefix or pattern columns, a space-separated pixel string, RGB, non-square
shapes, gapped or string labels, and ids of any type.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kit.competitions import DEFAULT_COMPETITION, Competition, class_values_of, get_competition

DEMO_DIR = Path("data/demo")
MAX_PIXEL = 255


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


def write_demo_data(
    dest: Path | str = DEMO_DIR,
    competition: Competition | None = None,
    test_size: int = 297,
    seed: int = 0,
    rows: int | None = None,
    test_ids: Sequence | None = None,
) -> Path:
    """Write a competition-format folder of real handwritten digits, with test answers in ``solution.csv``.

    ``rows`` caps the images used (train + test); ``test_ids`` replaces the test ids (any type, in that order).
    """
    import pandas as pd
    from sklearn.model_selection import train_test_split

    competition = competition or get_competition(DEFAULT_COMPETITION)
    dest = Path(dest)
    images, labels = digit_images(competition.image_shape)
    keep = labels < competition.classes
    images, labels = images[keep], labels[keep]
    if rows is not None and rows < len(labels):
        images, _, labels, _ = train_test_split(images, labels, train_size=rows, random_state=seed, stratify=labels)
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    dest.mkdir(parents=True, exist_ok=True)
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
    for name, frame in files.items():
        temporary = dest / f".{name}.tmp"
        frame.to_csv(temporary, index=False)
        temporary.replace(dest / name)
    return dest
