"""Pseudo-labels: confident test rows from run folders or from a submission's sidecar, the threshold, the
fingerprint, the test data check, and bad sources failing with one line (no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_ensemble import OOF_A, OOF_B, make_run

from kit.data import load_test
from kit.ensemble import confident_rows, predict, pseudo_rows
from kit.errors import KitError

# test softmaxes of two runs (4 test rows × 3 classes); their equal vote is [.97 .02 .01], [.5 .3 .2],
# [.01 .995 .005], [.0 .0 1.0]
TEST_A = np.array([[0.98, 0.01, 0.01], [0.6, 0.2, 0.2], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
TEST_B = np.array([[0.96, 0.03, 0.01], [0.4, 0.4, 0.2], [0.005, 0.99, 0.005], [0.0, 0.0, 1.0]])


@pytest.fixture
def runs(tmp_path):
    return make_run(tmp_path / "a", OOF_A, TEST_A), make_run(tmp_path / "b", OOF_B, TEST_B)


def test_confident_rows_take_the_argmax_at_or_above_the_threshold():
    rows, labels, probabilities = confident_rows(np.array([[0.2, 0.8], [0.99, 0.01], [0.5, 0.5]]), 0.8)
    assert rows.tolist() == [0, 1] and labels.tolist() == [1, 0] and probabilities == pytest.approx([0.8, 0.99])
    for bad in (0, 1.5, -0.1, float("nan"), "0.9"):
        with pytest.raises(KitError, match=r"^threshold: must be a probability in \(0, 1\], e.g. 0.99, got .*$"):
            confident_rows(np.ones((1, 2)) / 2, bad)


def test_runs_are_soft_voted_and_thresholded(runs):
    pseudo = pseudo_rows(list(runs), threshold=0.97)
    assert pseudo.rows.tolist() == [0, 2, 3] and pseudo.labels.tolist() == [0, 1, 2]
    assert pseudo.probabilities == pytest.approx([0.97, 0.995, 1.0])
    assert len(pseudo) == 3 and pseudo.test_rows == 4 and pseudo.threshold == 0.97
    assert pseudo.source.startswith("runs ") and "equal soft vote" in pseudo.source
    assert pseudo.competition == "digit-recognizer" and pseudo.test_fingerprint == "test-rows"
    assert pseudo_rows(list(runs), threshold=0.99).rows.tolist() == [2, 3]
    assert pseudo_rows(list(runs), threshold=1.0).rows.tolist() == [3]


def test_the_fingerprint_follows_rows_labels_and_test_data(runs, tmp_path):
    first = pseudo_rows(list(runs), 0.97)
    assert pseudo_rows(list(runs), 0.97).fingerprint == first.fingerprint  # stable
    assert pseudo_rows(list(runs), 0.96).fingerprint == first.fingerprint  # same rows and labels
    assert pseudo_rows(list(runs), 0.99).fingerprint != first.fingerprint  # fewer rows
    assert len(first.fingerprint) == 16
    other = make_run(tmp_path / "c", OOF_A, TEST_A, test_fingerprint="other-rows")
    assert pseudo_rows(other, 0.97).fingerprint != pseudo_rows(runs[0], 0.97).fingerprint


def test_a_single_run_folder(runs):
    pseudo = pseudo_rows(runs[0], 0.98)
    assert pseudo.rows.tolist() == [0, 2, 3] and pseudo.source == f"run {runs[0]}"
    assert pseudo_rows(str(runs[0]), 0.98).fingerprint == pseudo.fingerprint


def test_a_submission_sidecar_or_its_csv(runs, tmp_path):
    prediction = predict(list(runs), out=tmp_path / "subs", name="vote")
    sidecar = json.loads((tmp_path / "subs" / "vote.json").read_text())
    assert sidecar["test_softmax"] == "vote.npy" and sidecar["test_fingerprint"] == "test-rows"
    from_json = pseudo_rows(tmp_path / "subs" / "vote.json", 0.97)
    from_csv = pseudo_rows(str(prediction.path), 0.97)
    from_runs = pseudo_rows(list(runs), 0.97)
    assert from_json.rows.tolist() == from_csv.rows.tolist() == from_runs.rows.tolist() == [0, 2, 3]
    assert from_json.fingerprint == from_runs.fingerprint  # the same rows and labels of the same test data
    assert from_json.source == f"submission {tmp_path / 'subs' / 'vote.json'}"


def test_bad_sources_fail_with_one_line(runs, tmp_path):
    predict(list(runs), out=tmp_path, name="vote")
    sidecar = json.loads((tmp_path / "vote.json").read_text())
    cases = {
        tmp_path / "nowhere.json": r"source .*nowhere.json: .*nowhere.json not found; give a submission's .json",
        tmp_path / "nowhere": r"run .*nowhere: no summary.json there",
        (): r"source: empty; give a submission's .json \(or .csv\) or one or more run folders",
        (tmp_path / "vote.json", runs[0]): r"source: give one submission, or run folders only",
    }
    (tmp_path / "other.json").write_text('{"hello": 1}')
    cases[tmp_path / "other.json"] = r"other.json: not a submission sidecar written by kit predict"
    (tmp_path / "old.json").write_text(json.dumps({k: v for k, v in sidecar.items() if k != "test_softmax"}))
    cases[tmp_path / "old.json"] = r"old.json: records no test softmax"
    (tmp_path / "lost.json").write_text(json.dumps({**sidecar, "test_softmax": "lost.npy"}))
    cases[tmp_path / "lost.json"] = r"lost.npy: not found; the sidecar lost.json points to it"
    (tmp_path / "broken.json").write_text("{")
    cases[tmp_path / "broken.json"] = r"broken.json: .*not valid JSON"
    for source, message in cases.items():
        with pytest.raises(KitError, match=message) as raised:
            pseudo_rows(source)
        assert "\n" not in str(raised.value)
    with pytest.raises(KitError, match=r"^threshold: must be a probability in \(0, 1\], e.g. 0.99, got 0$"):
        pseudo_rows(runs[0], threshold=0)


def test_data_dir_must_hold_the_predicted_test_rows(tiny_dir, competition, tmp_path):
    fingerprint = load_test(tiny_dir, competition).fingerprint()
    test = np.full((40, 10), 0.01)
    test[:, 3] = 0.91
    oof = np.full((4, 10), 0.1)
    shape = {"data": {"train_rows": 4, "test_rows": 40, "image_shape": [28, 28, 1], "classes": 10}}
    good = make_run(tmp_path / "good", oof, test, test_fingerprint=fingerprint, test_ids=np.arange(1, 41), **shape)
    assert len(pseudo_rows(good, 0.9, data_dir=tiny_dir)) == 40
    wrong = make_run(tmp_path / "wrong", oof, test, test_ids=np.arange(1, 41), **shape)
    with pytest.raises(
        KitError,
        match=rf"test.csv: not the test rows of run .*wrong \(fingerprint {fingerprint}, "
        r"the source has test-rows\)",
    ):
        pseudo_rows(wrong, 0.9, data_dir=tiny_dir)
    with pytest.raises(KitError, match=r"empty.*test.csv: not found; data_dir must hold the test file"):
        pseudo_rows(good, 0.9, data_dir=tmp_path / "empty")
