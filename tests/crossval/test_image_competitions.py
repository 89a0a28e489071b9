"""Every image-file layout end to end, as a user runs it: a folder as Kaggle ships it (no spec) → ``kit init`` →
``kit cv`` → ``kit predict`` → ``kit score``, giving a submission whose columns, id order and value kind match the
sample submission, scored with the competition's metric."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from image_data import LAYOUTS, build
from typer.testing import CliRunner

import kit
from conftest import tiny_recipe_toml
from kit.cli import app
from kit.competitions import get_metric, load_spec

pytestmark = pytest.mark.slow  # trains models

KEYS = ("layout", "train", "test", "pattern", "test_ids")


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, f"kit {' '.join(map(str, args))}: {result.output}{result.exception!r}"
    return result.output


def _check_values(submission: pd.DataFrame, spec, sample: pd.DataFrame) -> None:
    """The value kind of each cell matches the spec's submission kind (and the sample submission)."""
    values = submission[submission.columns[1:]]
    classes = {str(value) for value in spec.class_values}
    if spec.submission_kind == "label":
        assert set(values.iloc[:, 0].astype(str)) <= classes
    elif spec.submission_kind == "probability":
        assert values.iloc[:, 0].between(0, 1).all() and values.iloc[:, 0].nunique() > 1
    elif spec.submission_kind == "probabilities":
        assert list(values.columns) == list(sample.columns[1:]) and values.to_numpy().min() >= 0
        sums = values.to_numpy().sum(axis=1)
        assert np.allclose(sums, 1, atol=1e-4) != spec.multilabel  # softmax rows sum to 1, sigmoid rows do not
    else:
        lists = values.iloc[:, 0].str.split(" ")
        assert (lists.map(len) == spec.top_k).all() and all(set(cells) <= classes for cells in lists)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_folder_kaggle_ships_goes_from_init_to_a_scored_submission(tmp_path, monkeypatch, layout):
    monkeypatch.chdir(tmp_path)
    built = build(layout, tmp_path / "data" / layout)
    (tmp_path / "recipes").mkdir()
    recipe = tiny_recipe_toml("tiny", epochs=2, augment="flip_horizontal = true")
    (tmp_path / "recipes" / "tiny.toml").write_text(recipe)
    _run("init", "--data", built.folder, "--set", f"metric={built.spec['metric']}")  # the metric from its page
    spec = load_spec(built.folder / "competition.toml")
    wanted = built.spec
    assert {key: getattr(spec.images, key) for key in KEYS} == {
        key: wanted["images"].get(key, default) for key, default in zip(KEYS, ("", "train", "test", "", "name"))
    }
    assert spec.metric == wanted["metric"] and spec.task == wanted.get("task", "single")
    assert spec.submission_kind == wanted.get("submission", {}).get("kind", "label")
    assert spec.submission_columns == tuple(wanted["columns"]["submission"])

    _run("cv", "tiny", "--data", built.folder, "--out", "runs/tiny")
    run = kit.load_run("runs/tiny")
    assert run.metric == spec.metric and run.oof_score is not None
    assert run.oof_score == pytest.approx(get_metric(spec.metric).score(np.load("runs/tiny/labels.npy"), run.oof))

    _run("predict", "runs/tiny", "--name", layout)
    submission = pd.read_csv(f"submissions/{layout}.csv")
    sample = pd.read_csv(built.folder / "sample_submission.csv")
    assert list(submission.columns) == list(sample.columns)
    assert submission.iloc[:, 0].astype(str).tolist() == sample.iloc[:, 0].astype(str).tolist()
    _check_values(submission, spec, sample)

    _run("report", "runs/tiny")  # figures name the classes; a multi-label run shows each label's AUC
    figures = {path.stem for path in (tmp_path / "runs" / "tiny").glob("*.png")}
    assert ("per_label" in figures) == spec.multilabel and ("confusion" in figures) != spec.multilabel

    output = _run("score", f"submissions/{layout}.csv", "--data", built.folder)
    assert spec.metric in output
    score = kit.score(f"submissions/{layout}.csv", data=built.folder)
    assert score.metric == spec.metric and np.isfinite(score.score)
