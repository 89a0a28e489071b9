"""`kit score`: the local leaderboard (accuracy, macro-F1, log-loss), per-class table, the sidecar's local_score."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import typer
from layout_data import build
from typer.testing import CliRunner

from kit.cli import competition as competition_cli
from kit.data import infer_competition
from kit.errors import KitError
from kit.submission import score_submission


@pytest.fixture
def digits(tmp_path):
    folder = tmp_path / "data"
    build("digit-recognizer", folder)
    return folder


def _submission(tmp_path, frame, sidecar=None, name="sub"):
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    if sidecar is not None:
        path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def test_accuracy_per_class_and_the_sidecar(tmp_path, digits):
    solution = pd.read_csv(digits / "solution.csv")
    guess = solution.copy()
    wrong = guess["Label"] == 3
    guess.loc[wrong, "Label"] = 4
    path = _submission(tmp_path, guess, {"submission": "sub.csv", "runs": [{"run": "x"}], "oof_accuracy": 0.5})
    result = score_submission(path, data=digits)
    assert result.metric == "accuracy" and result.rows == 30
    assert result.score == pytest.approx(1 - wrong.sum() / 30) and result.accuracy == result.score
    by_class = {row.value: row for row in result.per_class}
    assert by_class[3].accuracy == 0.0 and by_class[3].count == wrong.sum() and by_class[4].accuracy == 1.0
    assert sum(row.count for row in result.per_class) == 30
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["oof_accuracy"] == 0.5 and sidecar["runs"] == [{"run": "x"}]  # other keys kept
    assert sidecar["local_score"]["score"] == pytest.approx(result.score)
    assert sidecar["local_score"]["metric"] == "accuracy" and sidecar["local_score"]["solution"].endswith(
        "solution.csv"
    )


def test_macro_f1_and_log_loss(tmp_path, digits):
    solution = pd.read_csv(digits / "solution.csv")
    truth = solution["Label"].to_numpy()
    predicted = np.where(truth == 1, 2, truth)
    path = _submission(tmp_path, solution.assign(Label=predicted))
    result = score_submission(path, data=digits, metric="macro_f1", record=False)
    f1 = []
    for k in range(10):
        tp, support, guessed = np.sum((truth == k) & (predicted == k)), np.sum(truth == k), np.sum(predicted == k)
        if support or guessed:
            f1.append(2 * tp / (support + guessed))
    assert result.metric == "macro_f1" and result.score == pytest.approx(np.mean(f1))
    assert not path.with_suffix(".json").exists()
    probabilities = np.full((30, 10), 0.05)
    probabilities[np.arange(30), truth] = 0.55
    frame = pd.DataFrame(probabilities, columns=[str(k) for k in range(10)])
    frame.insert(0, "ImageId", solution["ImageId"])
    path = _submission(tmp_path, frame, name="proba")
    result = score_submission(path, data=digits, metric="log_loss")
    assert result.score == pytest.approx(-math.log(0.55)) and result.accuracy == 1.0
    with pytest.raises(
        KitError, match=r"sub.csv: log_loss needs one probability column per class; this file holds labels"
    ):
        score_submission(tmp_path / "sub.csv", data=digits, metric="log_loss")


def test_a_log_loss_competition_scores_labels_by_accuracy_and_says_so(tmp_path, digits):
    (digits / "competition.toml").write_text('metric = "log_loss"\n')
    path = _submission(tmp_path, pd.read_csv(digits / "solution.csv"))
    result = score_submission(path, data=digits)
    assert result.metric == "accuracy" and result.score == 1.0
    assert result.notes == (
        "the competition's metric is log_loss, which needs class probabilities; scored accuracy instead",
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.iloc[1:], r"sub.csv: no prediction for id 1 \(1 of the 30 answers missing\)"),
        (lambda f: pd.concat([f, f.iloc[:1]]), r"line 32, column ImageId: id 1 appears twice"),
        (lambda f: f.assign(Label=f["Label"].where(f.index != 2, 12)), r"line 4, column Label: '12' is not a class"),
        (
            lambda f: f.rename(columns={"Label": "x"}),
            r"columns are ImageId,x; expected ImageId,Label or ImageId and one",
        ),
    ],
)
def test_bad_submissions_fail_with_one_line(tmp_path, digits, edit, message):
    path = _submission(tmp_path, edit(pd.read_csv(digits / "solution.csv")))
    with pytest.raises(KitError, match=message):
        score_submission(path, data=digits)
    assert not path.with_suffix(".json").exists()


def test_no_answers_says_what_to_give(tmp_path, digits):
    path = _submission(tmp_path, pd.read_csv(digits / "solution.csv"))
    (digits / "solution.csv").rename(tmp_path / "answers.csv")
    with pytest.raises(KitError, match=r"no answers to score against: no solution.csv in .*; give the solution file"):
        score_submission(path, data=digits)
    assert score_submission(path, solution=tmp_path / "answers.csv").score == 1.0


def test_text_labels_and_ids_in_the_sample_order(tmp_path):
    folder = tmp_path / "data"
    build("rect-strings", folder)
    infer_competition(folder)
    solution = pd.read_csv(folder / "solution.csv", dtype=str)
    shuffled = solution.sample(frac=1.0, random_state=0)
    shuffled.loc[shuffled.index[0], "category"] = "Bag" if shuffled["category"].iloc[0] != "Bag" else "Coat"
    result = score_submission(_submission(tmp_path, shuffled, {"competition": "data"}), data=folder)
    assert result.score == pytest.approx(29 / 30) and result.competition == "data"
    assert {row.value for row in result.per_class} <= {
        "T-shirt",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "cat",
    }


def test_a_test_file_with_labels_is_the_answer(tmp_path):
    folder = tmp_path / "fashion"
    build("fashion-mnist", folder)
    spec = infer_competition(folder).competition
    answers = pd.read_csv(folder / spec.test_file, usecols=["label"])["label"]
    frame = pd.DataFrame({"ImageId": np.arange(1, 31), "label": answers})
    result = score_submission(_submission(tmp_path, frame), data=folder)
    assert result.score == 1.0 and result.solution.endswith("fashion-mnist_test.csv (its labels)")


def test_the_cli_prints_the_table_in_80_columns(tmp_path, digits):
    app = typer.Typer()
    competition_cli.register(app)
    path = _submission(tmp_path, pd.read_csv(digits / "solution.csv"))
    result = CliRunner().invoke(app, ["score", str(path), "--data", str(digits)], terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith("accuracy 1.0000 on 30 rows") for line in lines)
    assert sum("1.0000" in line and "█" in line for line in lines) == 10


def test_has_answers(tmp_path, digits):
    from kit.submission import has_answers

    assert has_answers(digits) and not has_answers(None) and not has_answers(tmp_path)
    fashion = tmp_path / "fashion"
    build("fashion-mnist", fashion)
    assert has_answers(fashion, "fashion-mnist")


def test_a_json_beside_the_csv_that_kit_did_not_write_is_left_as_it_is(tmp_path, digits):
    solution = pd.read_csv(digits / "solution.csv")
    path = _submission(tmp_path, solution, {"submission": "other.csv", "note": "a user's file"})
    before = path.with_suffix(".json").read_bytes()
    result = score_submission(path, data=digits)
    assert result.score == 1.0
    assert path.with_suffix(".json").read_bytes() == before
    assert any("not the sidecar kit wrote for sub.csv; kit leaves it as it is" in note for note in result.notes)


def test_a_submission_without_a_sidecar_gets_one_naming_it(tmp_path, digits):
    path = _submission(tmp_path, pd.read_csv(digits / "solution.csv"))
    score_submission(path, data=digits)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["submission"] == "sub.csv" and sidecar["local_score"]["score"] == 1.0
