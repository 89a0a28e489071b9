"""Writing submissions: format checks against the competition and sample_submission.csv, atomic write, no overwrite."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kit.competitions import get_competition
from kit.errors import KitError
from kit.submission import check_submission, expected_ids, read_submission, write_submission


@pytest.fixture
def kannada():
    return get_competition("Kannada-MNIST")


def test_writes_the_competition_format_and_the_sidecar(tmp_path, competition):
    path = tmp_path / "subs" / "first.csv"
    frame = write_submission(np.array([1, 2, 3]), np.array([7, 0, 9]), path, competition, sidecar={"runs": ["a"]})
    assert path.read_text() == "ImageId,Label\n1,7\n2,0\n3,9\n"
    assert json.loads(path.with_suffix(".json").read_text()) == {"runs": ["a"]}
    assert frame.dtypes.tolist() == [np.int64, np.int64]
    assert sorted(p.name for p in path.parent.iterdir()) == ["first.csv", "first.json"]  # no temporary files left


def test_labels_as_whole_floats_are_written_as_integers(tmp_path, competition):
    path = tmp_path / "float.csv"
    write_submission(np.array([1, 2]), np.array([3.0, 4.0]), path, competition)
    assert path.read_text() == "ImageId,Label\n1,3\n2,4\n"
    assert not path.with_suffix(".json").exists()


def test_refuses_to_overwrite_unless_forced(tmp_path, competition):
    path = tmp_path / "sub.csv"
    write_submission(np.array([1, 2]), np.array([1, 1]), path, competition, sidecar={"n": 1})
    with pytest.raises(KitError, match=r"sub.csv exists; pass force=True or name=\.\.\.$"):
        write_submission(np.array([1, 2]), np.array([5, 5]), path, competition, sidecar={"n": 2})
    assert path.read_text() == "ImageId,Label\n1,1\n2,1\n"
    assert json.loads(path.with_suffix(".json").read_text()) == {"n": 1}
    write_submission(np.array([1, 2]), np.array([5, 5]), path, competition, sidecar={"n": 2}, force=True)
    assert path.read_text() == "ImageId,Label\n1,5\n2,5\n"
    assert json.loads(path.with_suffix(".json").read_text()) == {"n": 2}


@pytest.mark.parametrize(
    ("ids", "labels", "message"),
    [
        ([0, 1, 2], [1, 2, 3], r"line 2, column ImageId: 0 where the test set has 1"),
        ([1, 2, 2], [1, 2, 3], r"line 4, column ImageId: id 2 appears twice"),
        ([1, 2, 3], [1, 10, 3], r"line 3, column Label: 10 is not a class \(0–9\)"),
        ([1, 2, 3], [1, 2.5, 3], r"line 3, column Label: 2.5 is not an integer"),
        ([1, 2, 3], [1, -1, 3], r"line 3, column Label: -1 is not a class"),
    ],
)
def test_bad_rows_fail_with_the_line_and_write_nothing(tmp_path, competition, ids, labels, message):
    path = tmp_path / "bad.csv"
    with pytest.raises(KitError, match=message):
        write_submission(np.array(ids), np.array(labels), path, competition, sidecar={})
    assert list(tmp_path.iterdir()) == []


def test_rows_must_match_sample_submission(tmp_path, tiny_dir, competition):
    expected = expected_ids(tiny_dir, competition)
    assert expected.tolist() == list(range(1, 41))
    with pytest.raises(KitError, match=r"short.csv: 39 rows; the test set has 40 images"):
        write_submission(np.arange(1, 40), np.zeros(39), tmp_path / "short.csv", competition, expected=expected)
    path = write_submission(np.arange(1, 41), np.zeros(40), tmp_path / "ok.csv", competition, expected=expected)
    assert len(path) == 40
    assert read_submission(tmp_path / "ok.csv", competition, expected)["Label"].tolist() == [0] * 40


def test_competition_with_an_id_column(tmp_path, kannada):
    path = tmp_path / "kannada.csv"
    write_submission(np.array([0, 1, 5]), np.array([2, 3, 4]), path, kannada)  # ids come from test.csv: any order
    assert path.read_text() == "id,label\n0,2\n1,3\n5,4\n"
    check_submission(pd.read_csv(path), kannada)
    with pytest.raises(KitError, match=r"line 3, column id: id 0 appears twice"):
        write_submission(np.array([0, 0]), np.array([2, 3]), tmp_path / "dup.csv", kannada)


def test_read_submission_still_names_the_problem(tmp_path, competition):
    path = tmp_path / "wrong.csv"
    path.write_text("ImageId,Prediction\n1,3\n")
    with pytest.raises(KitError, match=r"columns are ImageId,Prediction; expected exactly ImageId,Label"):
        read_submission(path, competition)


def test_class_indices_are_written_as_the_class_values(tmp_path, competition):
    from dataclasses import replace

    signs = get_competition("sign-language-mnist")
    path = write_submission(np.array([1, 2, 3]), np.array([8, 9, 23]), tmp_path / "signs.csv", signs)
    assert (tmp_path / "signs.csv").read_text() == "ImageId,Label\n1,8\n2,10\n3,24\n" and path["Label"].tolist() == [
        8,
        10,
        24,
    ]
    with pytest.raises(KitError, match=r"line 2, column Label: 24 is not a class index \(0–23\)"):
        write_submission(np.array([1]), np.array([24]), tmp_path / "bad.csv", signs)
    clothes = replace(competition, class_values=("T-shirt", "cat, striped"))
    write_submission(np.array([1, 2]), np.array([1, 0]), tmp_path / "clothes.csv", clothes)
    assert (tmp_path / "clothes.csv").read_text() == 'ImageId,Label\n1,"cat, striped"\n2,T-shirt\n'
    assert read_submission(tmp_path / "clothes.csv", clothes)["Label"].tolist() == ["cat, striped", "T-shirt"]
    (tmp_path / "wrong.csv").write_text("ImageId,Label\n1,dog\n")
    with pytest.raises(KitError, match=r"line 2, column Label: 'dog' is not a class \('T-shirt', 'cat, striped'\)"):
        read_submission(tmp_path / "wrong.csv", clothes)


def test_ids_keep_the_sample_submissions_order_and_text(tmp_path, kannada):
    from dataclasses import replace

    named = replace(kannada, test_id_column="name", submission_columns=("name", "label"))
    (tmp_path / "sample_submission.csv").write_text("name,label\nimg_010,0\nimg_002,0\n007,0\n")
    expected = expected_ids(tmp_path, named)
    assert expected.tolist() == ["img_010", "img_002", "007"]
    frame = write_submission(
        np.array(["007", "img_002", "img_010"]), np.array([1, 2, 3]), tmp_path / "s.csv", named, expected=expected
    )
    assert (tmp_path / "s.csv").read_text() == "name,label\nimg_010,3\nimg_002,2\n007,1\n"
    assert frame["name"].tolist() == ["img_010", "img_002", "007"]
    with pytest.raises(KitError, match=r"line 3: the sample submission's id img_002 is not among the test ids"):
        write_submission(
            np.array(["007", "img_003", "img_010"]), np.array([1, 2, 3]), tmp_path / "x.csv", named, expected=expected
        )
    (tmp_path / "sample_submission.csv").write_text("id,label\n5,0\n3,0\n")  # integer ids, in the sample's order
    ints = expected_ids(tmp_path, kannada)
    assert ints.dtype == np.int64 and ints.tolist() == [5, 3]
    write_submission(np.array([3, 5]), np.array([0, 9]), tmp_path / "i.csv", kannada, expected=ints)
    assert (tmp_path / "i.csv").read_text() == "id,label\n5,9\n3,0\n"
    assert not list(tmp_path.glob("x.*"))


def test_a_sample_submission_with_placeholder_labels_gives_its_ids(tmp_path, competition):
    (tmp_path / "sample_submission.csv").write_text("ImageId,Label\n1,?\n2,?\n")
    assert expected_ids(tmp_path, competition).tolist() == [1, 2]
