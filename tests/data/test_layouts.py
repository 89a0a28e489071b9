"""End to end on each pixel-CSV layout: `kit init`, `kit cv` (2 folds × 1 epoch, 70 rows), `kit predict`, `kit score`.

The commands run in-process through the CLI modules (one TensorFlow start-up for all). The data sit in
``data/<name>/`` (kit's own convention), so a run's competition is found again by its name. Each submission must have
the sample submission's columns, ids (same order and text) and label values.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from layout_data import LAYOUTS, build
from typer.testing import CliRunner

from conftest import tiny_recipe_toml
from kit.cli import competition as competition_cli
from kit.cli import cv as cv_cli
from kit.cli import ensemble as ensemble_cli
from kit.competitions import as_competition
from kit.data import load_test, load_train

pytestmark = pytest.mark.slow  # trains models or starts subprocesses


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    for module in (cv_cli, ensemble_cli, competition_cli):
        module.register(app)
    return app


def _run(app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(app, [str(arg) for arg in args], terminal_width=100)
    assert result.exception is None and result.exit_code == 0, (
        f"{' '.join(map(str, args))}: {result.output}{result.exception!r}"
    )
    return result.output


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_loads_as_images_and_class_indices(tmp_path, layout):
    folder = tmp_path / layout
    built = build(layout, folder)
    from kit.data import infer_competition

    competition = infer_competition(folder, settings=built.settings).competition
    train, test = load_train(folder, competition), load_test(folder, competition)
    assert train.images.dtype == np.uint8 and train.images.shape == (70, *competition.image_shape)
    assert train.labels.dtype == np.int64 and set(train.labels) <= set(range(competition.classes))
    raw = pd.read_csv(folder / competition.train_file, dtype=str)[competition.label_column]
    assert competition.class_values_of(train.labels).astype(str).tolist() == raw.tolist()  # indices map back exactly
    assert train.images.max() > 100 and test.images.shape == (30, *competition.image_shape)
    if competition.test_id_column:
        ids = pd.read_csv(folder / competition.test_file, dtype=str)[competition.test_id_column]
        assert test.ids.astype(str).tolist() == ids.tolist()


E2E = ("Kannada-MNIST", "fashion-mnist", "fer", "rgb-gaps", "rect-strings", "rest", "nonsquare-given")


@pytest.mark.parametrize("layout", E2E)
def test_init_cv_predict_score(app, tmp_path, monkeypatch, layout):
    monkeypatch.chdir(tmp_path)
    folder = Path("data") / layout
    built = build(layout, folder)
    Path("tiny.toml").write_text(tiny_recipe_toml("tiny CNN for the layout tests"))
    sets = [part for key, value in built.settings.items() for part in ("--set", f"{key}={value}")]
    notes = _run(app, "init", "--data", folder, *sets)
    assert "competition.toml" in notes
    competition = as_competition(None, folder)
    _run(app, "cv", "tiny.toml", "--data", folder, "--epochs", "1", "--folds", "2", "--out", f"runs/{layout}")
    _run(app, "predict", f"runs/{layout}", "--name", layout, "--out", "submissions")
    submission = pd.read_csv(f"submissions/{layout}.csv", dtype=str, keep_default_na=False)
    sample_path = folder / competition.sample_submission_file
    if sample_path.is_file():
        sample = pd.read_csv(sample_path, dtype=str, keep_default_na=False)
        assert list(submission.columns) == list(sample.columns)
        assert submission.iloc[:, 0].tolist() == sample.iloc[:, 0].tolist()  # same ids, same order, same text
    else:
        assert list(submission.columns) == list(competition.submission_columns)
        assert submission.iloc[:, 0].tolist() == [str(i) for i in range(1, 31)]
    assert set(submission.iloc[:, 1]) <= {str(value) for value in competition.class_values}
    scored = _run(app, "score", f"submissions/{layout}.csv")
    assert "per-class accuracy (30 rows)" in scored and "accuracy " in scored
    sidecar = json.loads(Path(f"submissions/{layout}.json").read_text())
    assert 0.0 <= sidecar["local_score"]["score"] <= 1.0 and sidecar["competition"] == layout


def test_predict_finds_the_spec_beside_data_anywhere(app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "elsewhere" / "faces"
    build("fer", folder)
    Path("tiny.toml").write_text(tiny_recipe_toml("tiny CNN for the layout tests"))
    _run(app, "init", "--data", folder)
    _run(app, "cv", "tiny.toml", "--data", folder, "--epochs", "1", "--folds", "2", "--out", "runs/faces")
    _run(app, "predict", "runs/faces", "--name", "faces", "--out", "submissions")
    assert Path("submissions/faces.csv").is_file()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("height = 8", "height = 9"),
            r"192 pixel columns but image 9×8×3 is 216: set image.height, image.width, image.channels in "
            r"data/gaps/competition.toml",
        ),
        (
            ("    0,\n", ""),
            r"line \d+, column label: 0 is not a class \(classes 1–8, 10\); if it is one, add it to key "
            r"classes in data/gaps/competition.toml",
        ),
        (("[image]", "[image]\ndepth = 3"), r"data/gaps/competition.toml: key image.depth: unknown key"),
    ],
)
def test_a_wrong_spec_stops_kit_cv_before_anything_is_written(app, tmp_path, monkeypatch, edit, message):
    monkeypatch.chdir(tmp_path)
    folder = Path("data") / "gaps"
    build("rgb-gaps", folder)
    _run(app, "init", "--data", folder)
    spec = folder / "competition.toml"
    spec.write_text(spec.read_text().replace(*edit, 1))
    Path("tiny.toml").write_text(tiny_recipe_toml("tiny CNN for the layout tests"))
    result = CliRunner().invoke(app, ["cv", "tiny.toml", "--data", str(folder), "--out", "runs/gaps"])
    assert result.exit_code != 0 and result.exception is not None
    assert re.search(message, str(result.exception)) and "\n" not in str(result.exception), str(result.exception)
    assert not Path("runs").exists()
