"""`kit predict`'s default names, `kit predict --track` (MLflow), the local score of `kit distill` and the reprs of
`kit.leaderboard()`, on two run folders built from arrays on the tiny data (no training but the distilled student)."""

from __future__ import annotations

import re
import socket

import pytest
from test_ensemble import leaning_runs
from typer.testing import CliRunner

from conftest import tiny_recipe_toml
from kit.cli.app import app

UNSET = dict.fromkeys(("KIT_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_dir, competition):
    """Two finished runs on the tiny data (real fingerprints, arrays instead of training), leaning to the truth."""
    return leaning_runs(tmp_path_factory.mktemp("members"), tiny_dir, competition, seed=1)


def kit(*arguments: str, env: dict | None = None):
    return CliRunner().invoke(app, [str(argument) for argument in arguments], env={**UNSET, **(env or {})})


def test_default_names_never_collide(runs, tmp_path):
    subs = tmp_path / "subs"
    for options in (["--select"], ["--select", "--metric", "accuracy"], ["--weights", "2,1"], []):
        done = kit("predict", *runs, "--out", subs, *options)
        assert done.exit_code == 0, done.output
    names = sorted(path.name for path in subs.glob("*.csv"))
    assert names == ["a+b-select-accuracy.csv", "a+b-select.csv", "a+b-w1-0.5.csv", "a+b.csv"]


@pytest.mark.slow  # MLflow makes its SQLite store in seconds
def test_predict_track_logs_the_ensemble_its_members_and_its_files(runs, tmp_path):
    mlflow = pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    done = kit("predict", *runs, "--out", tmp_path / "subs", "--select", env={"KIT_TRACKING_URI": uri})
    assert done.exit_code == 0, done.output
    local = float(re.search(r"local accuracy (\d\.\d+)", done.output)[1])
    client = mlflow.MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("kit").experiment_id])
    assert run.info.run_name == "a+b-select" and run.data.tags["kind"] == "predict" and run.info.status == "FINISHED"
    params, metrics = run.data.params, run.data.metrics
    assert params["method"] == "selected, in-sample" and params["member.0.run"] == str(runs[0].resolve())
    assert {params["member.0.weight"], params["member.1.weight"]} <= {"0.0", "0.5", "1.0"}
    assert (
        metrics["local_score"] == pytest.approx(local, abs=1e-4) and metrics["local_accuracy"] == metrics["local_score"]
    )
    sidecar = (tmp_path / "subs" / "a+b-select.json").read_text()
    assert (
        f"{metrics['honest_oof_score']}"[:6] in sidecar and run.data.tags["honest_method"] == "selected, cross-fitted"
    )
    artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert artifacts == {"a+b-select.csv", "a+b-select.json"}


def test_predict_with_a_tracking_server_that_does_not_answer_finishes(runs, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = kit("predict", *runs, "--out", tmp_path / "subs", env={"KIT_TRACKING_URI": f"http://127.0.0.1:{port}"})
    assert done.exit_code == 0, done.output
    warned = [line for line in done.output.splitlines() if line.startswith("warning") or "mlflow" in line.lower()]
    assert len(warned) == 1 and warned[0].startswith("warning: tracking off: http://127.0.0.1:"), done.output
    assert (tmp_path / "subs" / "a+b.csv").is_file() and "local accuracy" in done.output


def test_the_leaderboard_has_a_short_repr_and_an_html_one(runs, tmp_path):
    import kit as library

    subs = tmp_path / "subs"
    for options in ([], ["--select"]):
        assert kit("predict", *runs, "--out", subs, *options).exit_code == 0
    board = library.leaderboard(subs)
    text = repr(board)
    assert "\n" not in text and len(text) < 120 and text.startswith("Leaderboard(") and "2 submissions" in text
    html = board._repr_html_()
    assert html.count("<tr>") == 3 and "a+b-select" in html and "▶" in html and "OOF accuracy" in html
    assert "<script" not in html and "rule:" in html


@pytest.mark.slow
def test_kit_distill_prints_its_local_score(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # its submission goes to ./submissions/
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(tiny_recipe_toml("a tiny student", batch_size=64))
    done = kit("distill", *runs, "--recipe", recipe, "--out", tmp_path / "student", env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert re.search(r"local accuracy \d\.\d{4} on 40 rows of .*solution\.csv", done.output), done.output
