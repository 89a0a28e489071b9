"""Small generated competition folders, one per pixel-CSV layout kit must handle (built from the demo digits).

Each builder writes the CSV files only (no spec): ``kit init`` must infer it, except where ``settings`` gives the keys
that cannot be inferred. ``expect`` holds what the inferred spec must say.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.competitions import PixelLayout, get_competition
from kit.data import write_demo_data

ROWS, TEST_ROWS = 100, 30
CLOTHES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "cat")


@dataclass(frozen=True)
class Layout:
    name: str
    expect: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)


def _digits():
    return get_competition("digit-recognizer")


def _write(folder: Path, competition, **options) -> Path:
    return write_demo_data(folder, competition, test_size=TEST_ROWS, rows=ROWS, **options)


def build(layout: str, folder: Path) -> Layout:
    """Write the ``layout`` folder into ``folder`` and say what its spec must be."""
    digits = _digits()
    if layout == "digit-recognizer":
        _write(folder, digits)
        return Layout(layout, {"image_shape": (28, 28, 1), "class_values": tuple(range(10)), "kind": "prefix"})
    if layout == "Kannada-MNIST":
        _write(folder, get_competition("Kannada-MNIST"))
        return Layout(layout, {"test_id_column": "id", "extra_files": ("Dig-MNIST.csv",), "kind": "prefix"})
    if layout == "fashion-mnist":  # the dataset's CSVs: pixel1…pixel784, labelled test file, no sample submission
        spec = get_competition("fashion-mnist")
        _write(folder, spec)
        for name in ("sample_submission.csv", "solution.csv"):
            (folder / name).unlink()
        return Layout(layout, {"test_labels": True, "train_file": "fashion-mnist_train.csv", "kind": "prefix"})
    if layout == "fer":  # emotion,pixels,Usage with 12×12 faces
        _write(folder, replace(get_competition("fer2013"), image_shape=(12, 12, 1)))
        return Layout(
            layout,
            {
                "image_shape": (12, 12, 1),
                "kind": "string",
                "ignore_columns": ("Usage",),
                "label_column": "emotion",
                "class_values": tuple(range(7)),
            },
        )
    if layout == "rgb-gaps":  # 8×8×3 = 192 columns p_0…, labels 0–10 without 9
        gapped = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10)
        _write(
            folder,
            replace(
                digits, image_shape=(8, 8, 3), class_values=gapped, pixel_layout=PixelLayout("prefix", prefix="p_")
            ),
        )
        return Layout(layout, {"image_shape": (8, 8, 3), "class_values": gapped, "kind": "prefix"})
    if layout == "rect-strings":  # 1x1…6x10, text labels, text ids in a column of any name, sample in its own order
        spec = replace(
            digits,
            image_shape=(6, 10, 1),
            class_values=CLOTHES,
            test_id_column="ImageName",
            submission_columns=("ImageName", "category"),
            pixel_layout=PixelLayout("pattern", pattern="{row}x{col}", start=1),
        )
        ids = [f"img_{(7 * i) % TEST_ROWS:03d}" for i in range(TEST_ROWS)]
        _write(folder, spec, test_ids=ids)
        for name in ("sample_submission.csv", "solution.csv"):
            frame = pd.read_csv(folder / name, dtype=str)
            frame.sort_values("ImageName", ascending=False).to_csv(folder / name, index=False)
        return Layout(
            layout,
            {
                "image_shape": (6, 10, 1),
                "class_values": tuple(sorted(CLOTHES)),
                "kind": "pattern",
                "test_id_column": "ImageName",
            },
        )
    if layout == "rest":  # 5×5 pixels in columns with arbitrary names, ids from 0
        spec = replace(digits, image_shape=(5, 5, 1), first_id=0)
        _write(folder, spec)
        rng = np.random.default_rng(0)
        names = {f"pixel{i}": "".join(rng.choice(list("abcdefgh"), 6)) for i in range(25)}
        for name in ("train.csv", "test.csv"):
            pd.read_csv(folder / name).rename(columns=names).to_csv(folder / name, index=False)
        return Layout(layout, {"image_shape": (5, 5, 1), "kind": "rest", "first_id": 0})
    if layout == "nonsquare-given":  # 6×10 as pixel0…pixel59: the shape must be given
        _write(folder, replace(digits, image_shape=(6, 10, 1)))
        return Layout(
            layout, {"image_shape": (6, 10, 1), "kind": "prefix"}, settings={"image.height": 6, "image.width": 10}
        )
    raise ValueError(layout)


LAYOUTS = (
    "digit-recognizer",
    "Kannada-MNIST",
    "fashion-mnist",
    "fer",
    "rgb-gaps",
    "rect-strings",
    "rest",
    "nonsquare-given",
)
