"""MLflow tracking as a callback: where ``track`` logs, what a run leaves in the store (a parent run, a child per fold
or trial, params, per-epoch metrics, OOF scores, files), and that tracking never blocks or fails a run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import tiny_recipe_toml
from kit.errors import KitError
from kit.utils import MlflowTracker, TrackingWarning, run_tracked, tracking_uri
from kit.utils._tracking import MAX_VALUE, flat_params

mlflow = pytest.importorskip("mlflow")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # SQLAlchemy's, inside MLflow's SQLite store


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One SQLite store for the tests without training (making one takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('store')}/mlflow.db"


@pytest.fixture
def no_tracking_env(monkeypatch):
    for name in ("KIT_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def runs_of(uri: str) -> list:
    client = mlflow.MlflowClient(uri)
    return client.search_runs([client.get_experiment_by_name("kit").experiment_id], order_by=["attributes.start_time"])


def tracked(records: list) -> list[str]:
    return [str(record.message) for record in records if issubclass(record.category, TrackingWarning)]


# ------------------------------------------------------------------------------------------- where and what


def test_track_says_where_the_runs_go(no_tracking_env, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert tracking_uri(None) is None and tracking_uri(False) is None
    assert tracking_uri(True) == f"sqlite:///{tmp_path.resolve()}/runs/mlflow.db"
    assert tracking_uri("sqlite:///other/m.db") == f"sqlite:///{tmp_path.resolve()}/other/m.db"
    assert tracking_uri("http://host:5000") == "http://host:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert tracking_uri(None) == tracking_uri(True) == "http://mlflow:5000"
    monkeypatch.setenv("KIT_TRACKING_URI", "sqlite:////abs/kit.db")
    assert tracking_uri(None) == "sqlite:////abs/kit.db"
    assert tracking_uri(False) is None
    with pytest.raises(KitError, match="track: must be True, False or a tracking URI"):
        tracking_uri(3)


def test_a_recipe_becomes_dotted_params_within_mlflow_limits():
    recipe = {"model": {"blocks": [{"filters": 4}, {"filters": 8}], "head": "flatten"}, "train": {"lr": 0.01}}
    recipe |= {"tune": {"train.lr": [0.1, 0.2]}, "description": "x" * (MAX_VALUE + 10), "bad[key]": None}
    params = flat_params(recipe)
    assert params["model.blocks.1.filters"] == "8" and params["train.lr"] == "0.01"
    assert params["tune.train.lr"] == "[0.1, 0.2]" and params["bad_key_"] == "null"
    assert len(params["description"]) == MAX_VALUE and params["description"].endswith("…")


def test_the_tracker_logs_folds_trials_and_the_result(store, tmp_path):
    """Hooks as parallel folds and a tune search call them (epochs of two folds interleaved, a resumed fold)."""
    from kit.tuning import TrialScore

    uri = store
    summary = tmp_path / "run" / "summary.json"
    summary.parent.mkdir()
    summary.write_text("{}")
    tracker = MlflowTracker(uri, "tiny", {"train": {"epochs": 2}}, {"train.epochs": 2}, recipe_hash="abc")
    assert tracker.start()
    tracker.on_run_begin("cv", 3, 2)
    for epoch in (1, 2):
        for fold in (1, 2):
            tracker.on_epoch_end(fold, epoch, {"val_accuracy": 0.5 + epoch / 10, "loss": float("nan")})
    for fold, resumed in ((1, False), (2, False), (3, True)):
        tracker.on_fold_end(SimpleNamespace(fold=fold, val_accuracy=0.7, val_loss=1.0, epochs=2, seconds=1), resumed)
    tracker.on_run_end()
    run = SimpleNamespace(summary_path=summary)
    scores = {"oof_score": 0.9, "oof_accuracy": 0.7, "oof_loss": 1.0, "metric": "log_loss", "competition": "c"}
    tracker.finish(SimpleNamespace(**scores, path=summary.parent, run=run))

    search = MlflowTracker(uri, "tiny")
    assert search.start()
    search.on_run_begin("tune", 2, 1)
    search.on_trial_begin(TrialScore("00", {"train.lr": 0.01}, None, 1, "RUNNING"))
    search.on_epoch_end("00", 1, {"val_accuracy": 0.6})
    search.on_trial_end(TrialScore("00", {"train.lr": 0.01}, 0.6, 1, "COMPLETED", 1.2, 1, 3.0))
    search.on_trial_end(TrialScore("01", {"train.lr": 0.02}, None, 1, "FAILED"))  # never begun here: a resumed one
    search.on_run_end()

    logged = runs_of(uri)
    [parent] = [run for run in logged if run.info.run_name == "tiny" and run.data.tags["kind"] == "cv"]
    runs = {run.info.run_name: run for run in logged if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert parent.data.params["train.epochs"] == "2" and parent.data.params["override.train.epochs"] == "2"
    assert parent.data.metrics["oof_score"] == parent.data.metrics["oof_log_loss"] == 0.9
    assert parent.data.tags["competition"] == "c" and parent.data.tags["recipe_hash"] == "abc"
    assert parent.info.status == "FINISHED" and "kit_version" in parent.data.tags
    assert set(runs) == {"fold-1", "fold-2", "fold-3"}
    assert {run.data.tags["kind"] for run in runs.values()} == {"fold"}
    assert [run.data.tags["resumed"] for run in runs.values()].count("true") == 1
    history = mlflow.MlflowClient(uri).get_metric_history(runs["fold-2"].info.run_id, "val_accuracy")
    assert [(point.step, round(point.value, 2)) for point in history] == [(1, 0.6), (2, 0.7)]
    assert "loss" not in runs["fold-2"].data.metrics  # not finite: left out
    artifacts = mlflow.MlflowClient(uri).list_artifacts(parent.info.run_id)
    assert [artifact.path for artifact in artifacts] == ["summary.json"]

    trials = {run.info.run_name: run for run in runs_of(uri) if run.data.tags["kind"] == "trial"}
    assert trials["trial-1"].data.params == {"train.lr": "0.01"} and trials["trial-2"].info.status == "FAILED"
    assert trials["trial-1"].data.metrics["trial_score"] == 0.6  # trials 1-based as folds; KerasTuner's id kept:
    assert trials["trial-1"].data.tags["trial_id"] == "00"


# ------------------------------------------------------------------------------------------- never in the way


def test_without_mlflow_one_warning_and_the_call_goes_on(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow fails as if not installed
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        assert run_tracked(True, lambda listeners: "done", (), name="tiny") == "done"
    assert tracked(records) == ["--track needs the optional extra: pip install kit[track]"]


def test_a_closed_port_is_one_warning_at_once(no_tracking_env):
    uri = f"http://127.0.0.1:{closed_port()}"
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        assert run_tracked(uri, lambda listeners: len(listeners.callbacks), [], name="tiny") == 0  # not joined
    [line] = tracked(records)
    assert line.startswith(f"tracking off: {uri} does not answer") and "\n" not in line


def test_a_store_failing_mid_run_turns_tracking_off_once(store):
    tracker = MlflowTracker(store, "failing")
    assert tracker.start()
    tracker.on_run_begin("cv", 2, 1)

    class Broken:
        def __getattr__(self, name):
            raise ConnectionError("the store went away")

    tracker.client = Broken()
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        for fold in (1, 2):
            tracker.on_epoch_end(fold, 1, {"val_accuracy": 0.5})
        tracker.on_run_end()
        tracker.finish(SimpleNamespace())
    assert tracked(records) == ["tracking off: the store went away; the run goes on untracked"]


@pytest.mark.slow
def test_importing_kit_imports_no_mlflow():
    code = "import sys, kit, kit.api, kit.utils; kit.utils.run_tracked; print('mlflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------- kit cv --track


@pytest.fixture(scope="module")
def tracked_cv(tmp_path_factory, tiny_dir):
    """A tiny ``kit cv --track`` (2 folds, 1 epoch) in a fresh folder: its default store there, and its run folder."""
    from typer.testing import CliRunner

    from kit.cli.app import app

    folder = tmp_path_factory.mktemp("tracked")
    recipe = folder / "tiny.toml"
    recipe.write_text(tiny_recipe_toml("a tiny CNN for tracking tests"))
    out = folder / "runs" / "tiny"

    def kit_cv(*extra: str, env: dict | None = None, cwd: Path = folder):
        arguments = ["cv", str(recipe), "--data", str(tiny_dir), "--out", str(out), "--jobs", "1", *extra]
        unset = dict.fromkeys(("KIT_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"))
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(cwd)
            return CliRunner().invoke(app, arguments, env={**unset, **(env or {})})

    done = kit_cv("--track")
    assert done.exit_code == 0, done.output
    assert "mlflow" not in done.output.lower() and "warning" not in done.output, done.output  # no log lines leak
    return SimpleNamespace(folder=folder, out=out, kit_cv=kit_cv, uri=f"sqlite:///{folder}/runs/mlflow.db")


@pytest.mark.slow
def test_kit_cv_track_logs_a_parent_run_and_a_child_per_fold(tracked_cv):
    runs = runs_of(tracked_cv.uri)
    [parent] = [run for run in runs if run.data.tags["kind"] == "cv"]
    children = sorted((run for run in runs if run.data.tags["kind"] == "fold"), key=lambda run: run.info.run_name)
    assert parent.info.run_name == "tiny" and parent.info.status == "FINISHED"
    assert [run.info.run_name for run in children] == ["fold-1", "fold-2"]
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parent.info.run_id}
    params = parent.data.params
    assert params["cv.folds"] == "2" and params["train.epochs"] == "1" and params["model.blocks.0.filters"] == "4"
    assert parent.data.tags["competition"] == "digit-recognizer" and parent.data.tags["metric"] == "accuracy"
    summary = json.loads((tracked_cv.out / "summary.json").read_text())
    assert parent.data.metrics["oof_score"] == pytest.approx(summary["oof_score"])
    assert parent.data.metrics["oof_accuracy"] == pytest.approx(summary["oof_accuracy"])
    client = mlflow.MlflowClient(tracked_cv.uri)
    for child, fold in zip(children, summary["folds"], strict=True):
        assert [point.step for point in client.get_metric_history(child.info.run_id, "val_accuracy")] == [1]
        assert child.data.metrics["fold_val_accuracy"] == pytest.approx(fold["val_accuracy"])
        assert child.data.tags["resumed"] == "false" and child.info.status == "FINISHED"
    assert [artifact.path for artifact in client.list_artifacts(parent.info.run_id)] == ["summary.json"]
    assert (tracked_cv.folder / "runs" / "mlartifacts").is_dir() and not (tracked_cv.folder / "mlruns").exists()


@pytest.mark.slow
def test_a_closed_tracking_port_is_one_warning_line_and_the_run_finishes(tracked_cv):
    done = tracked_cv.kit_cv(env={"KIT_TRACKING_URI": f"http://127.0.0.1:{closed_port()}"})
    assert done.exit_code == 0, done.output
    warned = [line for line in done.output.splitlines() if "warning" in line.lower() or "tracking" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: tracking off: http://127.0.0.1:"), done.output
    assert "OOF accuracy" in done.output


@pytest.mark.slow
def test_resumed_folds_are_logged_as_resumed(tracked_cv):
    assert tracked_cv.kit_cv("--track").exit_code == 0
    runs = runs_of(tracked_cv.uri)
    latest = [run for run in runs if run.data.tags["kind"] == "cv"][-1]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == latest.info.run_id]
    assert sorted(run.data.tags["resumed"] for run in children) == ["true", "true"]


@pytest.mark.slow
def test_tracking_is_off_by_default_and_writes_nothing(tracked_cv, tmp_path):
    done = tracked_cv.kit_cv(cwd=tmp_path)
    assert done.exit_code == 0, done.output
    assert "warning" not in done.output and sorted(path.name for path in tmp_path.iterdir()) == []
