"""Loading and validating competition CSVs, and the embedded demo data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kit.competitions import COMPETITIONS, get_competition
from kit.data import ImageSet, load_test, load_train, read_images, write_demo_data
from kit.errors import KitError


def test_demo_data_is_competition_format(demo_dir, competition):
    train = load_train(demo_dir, competition)
    test = load_test(demo_dir, competition)
    assert train.images.shape == (1500, 28, 28, 1) and train.images.dtype == np.uint8
    assert test.images.shape == (297, 28, 28, 1) and test.labels is None
    assert set(np.unique(train.labels)) == set(range(10))
    assert train.images.max() == 255 and train.images[:, :4].max() == 0  # digits sit in the centre, like MNIST
    assert list(test.ids[:3]) == [1, 2, 3]
    solution = pd.read_csv(demo_dir / "solution.csv")
    assert list(solution.columns) == ["ImageId", "Label"] and len(solution) == 297


def test_demo_data_is_reproducible(tmp_path, demo_dir, competition):
    again = write_demo_data(tmp_path, competition)
    assert (again / "train.csv").read_bytes() == (demo_dir / "train.csv").read_bytes()


def test_kannada_spec_is_a_few_lines(tmp_path):
    kannada = COMPETITIONS["Kannada-MNIST"]
    folder = write_demo_data(tmp_path, kannada, test_size=50)
    test = load_test(folder, kannada)
    assert list(pd.read_csv(folder / "test.csv", nrows=1).columns[:2]) == ["id", "pixel0"]
    assert list(test.ids[:3]) == [0, 1, 2]
    assert list(pd.read_csv(folder / "sample_submission.csv").columns) == ["id", "label"]


def test_unknown_competition():
    with pytest.raises(KitError, match=r"^competition: must be one of .*, got 'nope'$"):
        get_competition("nope")


def test_fingerprint_changes_with_labels(tiny_dir, competition):
    train = load_train(tiny_dir, competition)
    changed = ImageSet(train.images, (train.labels + 1) % 10, train.ids)
    assert train.fingerprint() != changed.fingerprint()


def _write_train(path, competition, edit):
    """A 3-row train.csv after ``edit(frame)``."""
    frame = pd.DataFrame(np.zeros((3, 785), dtype=int), columns=competition.train_columns)
    frame = edit(frame) if edit else frame
    frame.to_csv(path, index=False)
    return path


def _set(row, column, value):
    def edit(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda f: f.drop(columns=["pixel783"]),
            r"missing column pixel783; expected label, …, pixel783 \(785 columns, found 784\)",
        ),
        (lambda f: f.drop(columns=["label"]), "missing column label"),
        (lambda f: f.assign(extra=1), "unexpected column 'extra'"),
        (lambda f: f.drop(columns=[f"pixel{i}" for i in range(700, 784)]), "missing column pixel700 and 83 more"),
        (_set(1, "pixel5", "abc"), "line 3, column pixel5: 'abc' is not a number"),
        (_set(2, "pixel9", None), "line 4, column pixel9: empty cell"),
        (_set(0, "pixel3", 256), "line 2, column pixel3: 256 is not a pixel value"),
        (_set(0, "pixel3", -1), "line 2, column pixel3: -1 is not a pixel value"),
        (_set(1, "pixel3", 2.5), "line 3, column pixel3: 2.5 is not a pixel value"),
        (_set(2, "label", 10), r"line 4, column label: 10 is not a class \(integers 0–9\)"),
        (lambda f: f.iloc[:0], "has a header but no rows"),
    ],
)
def test_validation_errors_name_file_row_and_column(tmp_path, competition, edit, message):
    path = _write_train(tmp_path / "train.csv", competition, edit)
    with pytest.raises(KitError, match=message) as error:
        read_images(path, competition, labelled=True)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_row_with_too_many_fields(tmp_path, competition):
    path = _write_train(tmp_path / "train.csv", competition, None)
    path.write_text(path.read_text() + ",".join(["0"] * 786) + "\n")
    with pytest.raises(KitError, match=r"malformed CSV .*line 5.*every line needs 785 fields"):
        read_images(path, competition, labelled=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"\xff\xfe\x00\x81binary", "not a text CSV file")],
)
def test_empty_and_unreadable_files(tmp_path, competition, content, message):
    path = tmp_path / "train.csv"
    path.write_bytes(content)
    with pytest.raises(KitError, match=message):
        read_images(path, competition, labelled=True)


def test_missing_file_and_folder_path(tmp_path, competition):
    with pytest.raises(KitError, match=r"file not found .*kit demo-data"):
        load_train(tmp_path, competition)
    (tmp_path / "train.csv").mkdir()
    with pytest.raises(KitError, match="file not found"):
        load_train(tmp_path, competition)


def test_test_file_must_not_carry_labels(tmp_path, competition):
    frame = pd.DataFrame(np.zeros((2, 785), dtype=int), columns=competition.train_columns)
    frame.to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(KitError, match="unexpected column 'label'"):
        load_test(tmp_path, competition)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("inf", r"line 3, column pixel5: inf is not a finite number"),
        ("-inf", r"line 3, column pixel5: -inf is not a finite number"),
        ("1e400", r"line 3, column pixel5: inf is not a finite number"),
        ("nan", r"line 3, column pixel5: empty cell \(NaN\)"),
        ("99999999999999999999999", r"line 3, column pixel5: 99999999999999991611392 is not a pixel value"),
    ],
)
def test_non_finite_and_huge_pixels_name_line_and_column(tmp_path, competition, cell, message):
    path = _write_train(tmp_path / "train.csv", competition, None)
    lines = path.read_text().splitlines()
    cells = lines[2].split(",")
    cells[6] = cell
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(KitError, match=message) as error:
        read_images(path, competition, labelled=True)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def _small(tmp_path, competition, train_rows, test_rows=None):
    (tmp_path / "train.csv").write_text("\n".join(train_rows) + "\n")
    if test_rows is not None:
        (tmp_path / "test.csv").write_text("\n".join(test_rows) + "\n")
    return tmp_path


def test_text_and_gapped_labels_become_indices_and_ids_keep_their_type(tmp_path, competition):
    from dataclasses import replace

    clothes = replace(competition, image_shape=(1, 2, 1), class_values=("T-shirt", "cat"), test_id_column="name")
    folder = _small(
        tmp_path,
        clothes,
        ["label,pixel0,pixel1", "cat,1,2", "T-shirt,3,4", " cat ,5,6"],
        ["name,pixel0,pixel1", "b7,1,1", "a 1,2,2"],
    )
    train, test = load_train(folder, clothes), load_test(folder, clothes)
    assert train.labels.tolist() == [1, 0, 1] and train.images[:, 0, :, 0].tolist() == [[1, 2], [3, 4], [5, 6]]
    assert test.ids.tolist() == ["b7", "a 1"] and test.ids.dtype.kind == "U"
    gaps = replace(clothes, class_values=(0, 2, 5), test_id_column="id")
    folder = _small(
        tmp_path, gaps, ["label,pixel0,pixel1", "5,1,2", "0,3,4", "2.0,5,6"], ["id,pixel0,pixel1", "10,1,1", "7,2,2"]
    )
    assert load_train(folder, gaps).labels.tolist() == [2, 0, 1]
    assert load_test(folder, gaps).ids.tolist() == [10, 7] and load_test(folder, gaps).ids.dtype == np.int64
    _small(tmp_path, gaps, ["label,pixel0,pixel1", "5,1,2", "1,3,4"])
    with pytest.raises(
        KitError, match=r"line 3, column label: 1 is not a class \(classes 0, 2, 5\); if it is one, add it"
    ):
        load_train(folder, gaps)
    _small(tmp_path, gaps, ["label,pixel0,pixel1", "5,1,2"], ["id,pixel0,pixel1", "7,1,1", "7,2,2"])
    with pytest.raises(KitError, match=r"test.csv: line 3, column id: id 7 appears twice"):
        load_test(folder, gaps)


def test_a_pixel_string_column_and_channels_first(tmp_path, competition):
    from dataclasses import replace

    from kit.competitions import PixelLayout

    faces = replace(
        competition,
        image_shape=(2, 2, 1),
        label_column="emotion",
        ignore_columns=("Usage",),
        pixel_layout=PixelLayout("string", string="pixels"),
    )
    folder = _small(tmp_path, faces, ["emotion,pixels,Usage", "3,1 2 3 4,Training", "0,  5 6\t7 8 ,PublicTest"])
    train = load_train(folder, faces)
    assert train.images[:, :, :, 0].tolist() == [[[1, 2], [3, 4]], [[5, 6], [7, 8]]] and train.labels.tolist() == [3, 0]
    for cells, message in [
        ("1 2 3", r"line 2, column pixels: 3 values, but the image 2×2×1 needs 4: set image.height"),
        ("1 2 x 4", r"line 2, column pixels: 'x' is not a pixel value"),
        ("1 2 3 256", r"line 2, column pixels: value 4 \(256\) is not a pixel value"),
        ("1 2 3 inf", r"line 2, column pixels: value 4 \(inf\) is not a pixel value"),
        ("", r"line 2, column pixels: empty cell"),
    ]:
        _small(tmp_path, faces, ["emotion,pixels", f"3,{cells}"])
        with pytest.raises(KitError, match=message):
            load_train(folder, faces)
    rgb = replace(competition, image_shape=(1, 2, 3), channel_order="chw")
    columns = ",".join(f"pixel{i}" for i in range(6))
    _small(tmp_path, rgb, [f"label,{columns}", "1,10,11,20,21,30,31"])
    assert load_train(folder, rgb).images[0].tolist() == [[[10, 20, 30], [11, 21, 31]]]


def test_a_labelled_test_file_is_read_without_its_labels(tmp_path):
    fashion = get_competition("fashion-mnist")
    folder = write_demo_data(tmp_path, fashion, test_size=20, rows=60)
    assert "label" in pd.read_csv(folder / fashion.test_file, nrows=1).columns
    test = load_test(folder, fashion)
    assert test.labels is None and len(test) == 20 and test.ids.tolist()[:2] == [1, 2]
