"""One vocabulary: `-h` everywhere, an example in every command's help, flags without `<bool>`, deprecated names that
warn and still work, shell completion of recipes, competitions, metrics and precisions, and `kit score --metric
log_loss` on the probabilities beside a labels CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import typer.main
from typer.testing import CliRunner

import kit
from kit.cli._complete import PRECISIONS, competition_names, metric_names, precision_names, recipe_names
from kit.cli._examples import EXAMPLES
from kit.cli.app import app

runner = CliRunner()


def command_paths(group=None, prefix=()) -> list[tuple[str, ...]]:
    group = group or typer.main.get_command(app)
    paths = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if hasattr(command, "commands"):
            paths += command_paths(command, (*prefix, name))
    return paths


@pytest.mark.parametrize("path", [(), *command_paths()], ids=lambda path: " ".join(path) or "kit")
def test_every_command_takes_h_shows_an_example_and_no_bool_metavar(path):
    result = runner.invoke(app, [*path, "-h"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "<bool>" not in result.output
    if path:
        assert "Examples:" in result.output and f"$ kit {' '.join(path)}" in result.output
        assert " ".join(path) in EXAMPLES


def test_completion_candidates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "demo-mine.toml").write_text('description = "mine"\n')
    assert recipe_names(incomplete="demo") == ["demo", "demo-mine", "demo-seed1", "demo-snapshots"]
    assert "digit-recognizer" in competition_names(incomplete="")
    assert competition_names(incomplete="Kan") == ["Kannada-MNIST"]
    assert metric_names(incomplete="log") == ["log_loss"]
    assert set(metric_names()) == set(kit.competitions.METRICS)
    assert precision_names(incomplete="") == ["float32", "int8"]
    from kit.engine import PRECISIONS as ENGINE

    assert tuple(ENGINE) == PRECISIONS


def test_completion_reaches_the_shell(monkeypatch):
    monkeypatch.setenv("_KIT_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "kit predict x --metric log")
    monkeypatch.setenv("COMP_CWORD", "4")
    result = runner.invoke(app, [], prog_name="kit")
    assert "log_loss" in result.output


def test_demo_data_out_and_its_deprecated_dest(tmp_path):
    result = runner.invoke(app, ["demo-data", "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "train.csv").is_file()
    result = runner.invoke(app, ["demo-data", "--dest", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / "train.csv").is_file() and "--dest is deprecated" in result.output
    assert "--dest" not in runner.invoke(app, ["demo-data", "-h"]).output  # hidden


def test_old_python_names_warn_and_still_work(tmp_path):
    with pytest.warns(DeprecationWarning, match=r"write_demo_data\(dest=...\) is deprecated.*use out="):
        folder = kit.demo_data(dest=tmp_path / "demo", rows=200, test_size=50)
    assert (folder / "train.csv").is_file()
    solution = pd.read_csv(folder / "solution.csv")
    submission = tmp_path / "s.csv"
    solution.to_csv(submission, index=False)
    with pytest.warns(DeprecationWarning, match=r"score_submission\(data_dir=...\)"):
        old = kit.score(submission, data_dir=folder, record=False)
    assert old.score == kit.score(submission, data=folder, record=False).score == 1.0
    with pytest.raises(kit.KitError, match="given twice, as data and as data_dir"):
        kit.score(submission, data=folder, data_dir=folder)
    with pytest.warns(DeprecationWarning, match=r"init\(data_dir=...\)"):
        inferred = kit.init(data_dir=folder, write=False)
    assert inferred.competition.classes == 10


def test_score_log_loss_uses_the_probabilities_beside_the_labels(tmp_path):
    folder = kit.demo_data(tmp_path / "demo", rows=200, test_size=50)
    solution = pd.read_csv(folder / "solution.csv")
    submission = tmp_path / "labels.csv"
    solution.to_csv(submission, index=False)
    with pytest.raises(kit.KitError, match=r"log_loss needs .*no labels.npy lies beside it"):
        kit.score(submission, data=folder, metric="log_loss", record=False)
    proba = np.full((len(solution), 10), 0.02, dtype=np.float32)
    proba[np.arange(len(solution)), solution["Label"].to_numpy()] = 0.82
    np.save(tmp_path / "labels.npy", proba)
    scored = kit.score(submission, data=folder, metric="log_loss", record=False)
    assert scored.metric == "log_loss" and scored.score == pytest.approx(-np.log(0.82), rel=1e-4)
    assert "scored on the probabilities in labels.npy" in scored.notes
    np.save(tmp_path / "labels.npy", proba[::-1].copy())
    with pytest.raises(kit.KitError, match=r"labels.npy: its rows do not give the labels of labels.csv"):
        kit.score(submission, data=folder, metric="log_loss", record=False)
