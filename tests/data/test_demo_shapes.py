"""kit's second embedded data set, the generated shapes: balanced, the same bits from the same seed, written as a
competition folder whose runs rank apart from the demo digits' (label ``shapes``), bad names one line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from kit.crossval import run_label
from kit.data import write_demo_data
from kit.data._demoshapes import SHAPES, shape_images
from kit.errors import KitError


def test_shapes_are_balanced_seeded_and_not_blank():
    images, labels = shape_images((28, 28, 1), count=200, seed=3)
    assert images.shape == (200, 28, 28, 1) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [20] * len(SHAPES)
    again, _ = shape_images((28, 28, 1), count=200, seed=3)
    other, _ = shape_images((28, 28, 1), count=200, seed=4)
    assert np.array_equal(images, again) and not np.array_equal(images, other)
    centre = images[:, 10:18, 10:18].astype(float).mean()
    assert centre > images[:, :3, :3].astype(float).mean() + 20  # a shape near the centre, noise at the corner


def test_non_square_and_colour_shapes_keep_the_asked_shape():
    images, _ = shape_images((20, 30, 3), count=10)
    assert images.shape == (10, 20, 30, 3)


def test_written_shapes_rank_apart_from_the_demo_digits(tmp_path):
    folder = write_demo_data(tmp_path / "shapes", dataset="shapes", rows=600, test_size=100)
    train, solution = pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "solution.csv")
    assert len(train) == 500 and len(solution) == 100
    assert sorted(train["label"].unique()) == list(range(10))
    assert run_label("digit-recognizer", folder) == "shapes"
    assert run_label("Kannada-MNIST", folder) == "Kannada-MNIST-shapes"
    digits = write_demo_data(tmp_path / "digits", rows=200, test_size=50)
    assert run_label("digit-recognizer", digits) == "demo"


def test_shapes_hold_out_a_thousand_rows_by_default(tmp_path):
    folder = write_demo_data(tmp_path / "shapes", dataset="shapes")
    assert len(pd.read_csv(folder / "test.csv")) == 1000 and len(pd.read_csv(folder / "train.csv")) == 4000


def test_an_unknown_data_set_is_one_line_naming_the_option(tmp_path):
    with pytest.raises(KitError, match="dataset: must be one of digits, shapes"):
        write_demo_data(tmp_path / "x", dataset="faces")
    assert not (tmp_path / "x").exists()
    result = subprocess.run(
        [sys.executable, "-m", "kit", "demo-data", "--dataset", "faces", "--out", str(tmp_path / "y")],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "--dataset: must be one of digits, shapes, got 'faces'" in result.stderr
    assert "Traceback" not in result.stderr
