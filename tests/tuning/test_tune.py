"""kit tune: the [tune] space, the recipe HyperModel, a tiny search with resume, the tuned recipe, chief + workers."""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib

import keras_tuner as kt
import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import tiny_recipe_toml
from kit.cli import app
from kit.cli.tune import distribution
from kit.data import load_train
from kit.engine import build_model
from kit.errors import ANOTHER, KitError
from kit.recipes import load_recipe
from kit.tuning import (
    SEARCH_RECORD,
    TRIAL_RECORD,
    RecipeHyperModel,
    TrialScore,
    TuneResult,
    TuneRole,
    holdout_split,
    kerastuner_environment,
    parse_space,
    run_tune,
    tuned_recipe_text,
    write_tuned_recipe,
    written_by_kit,
)
from kit.utils import Callback

TINY = tiny_recipe_toml(
    "a tiny CNN with a tiny search space, for tests",
    dropout=0.1,
    extra="""[callbacks.reduce_lr_on_plateau]
patience = 1
[tune]
"model.blocks.0.dropout" = [0.0, 0.2, 0.4]
"model.dense.0.units" = [8, 16]
"train.learning_rate" = { min = 0.001, max = 0.01, sampling = "log" }
tuner = "random"
max_trials = 2
""",
)


class Recorder(Callback):
    """A callback that remembers what it saw, optionally stopping (like Ctrl-C) in the first epoch of a trial."""

    def __init__(self, interrupt: bool = False):
        self.interrupt = interrupt
        self.runs, self.began, self.epochs, self.ended, self.finished = [], [], [], [], 0

    def on_run_begin(self, kind, total=None, epochs=None):
        self.runs.append((kind, total, epochs))

    def on_trial_begin(self, trial):
        assert isinstance(trial, TrialScore) and trial.status == "RUNNING" and trial.score is None
        self.began.append((trial.trial_id, trial.values))

    def on_epoch_end(self, fold, epoch, logs):
        self.epochs.append((fold, epoch))
        if self.interrupt:
            raise KeyboardInterrupt

    def on_trial_end(self, trial):
        assert isinstance(trial, TrialScore)
        self.ended.append(trial.trial_id)

    def on_run_end(self):
        self.finished += 1


def with_tune(table: dict, name: str = "demo"):
    return dataclasses.replace(load_recipe(name), tune=table)


# ------------------------------------------------------------------------------------------------ the search space


def test_the_notebooks_hyperopt_space_is_a_tuned_family_recipe():
    space = parse_space(load_recipe("tuned-search"))
    dropouts = ["model.blocks.0.dropout", "model.blocks.1.dropout", "model.blocks.2.dropout", "model.dense.0.dropout"]
    assert space.keys == [*dropouts, "train.optimizer", "model.dense.0.units"]
    assert (space.holdout, space.tuner, space.max_trials) == (0.2, "bayesian", 50)
    hp = kt.HyperParameters()
    space.declare(hp)
    assert all(isinstance(param, kt.engine.hyperparameters.Choice) for param in hp.space)
    assert {param.name: list(param.values) for param in hp.space} == {
        **{key: [0.1, 0.2, 0.3, 0.4, 0.5] for key in dropouts},
        "train.optimizer": ["adam", "rmsprop"],
        "model.dense.0.units": [128, 256, 512],
    }


def test_ranges_become_int_and_float_hyperparameters_and_unquoted_keys_work():
    space = parse_space(
        with_tune(
            {
                "train.batch_size": {"min": 16, "max": 128, "step": 16},
                "train.learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
                "augment": {"rotation": {"min": 0, "max": 20}},  # [tune] augment.rotation = { … } unquoted
                "holdout": 0.25,
            }
        )
    )
    hp = kt.HyperParameters()
    assert space.declare(hp) == {"train.batch_size": 16, "train.learning_rate": 1e-4, "augment.rotation": 0.0}
    batch, rate, rotation = hp.space
    assert isinstance(batch, kt.engine.hyperparameters.Int) and (batch.min_value, batch.max_value, batch.step) == (
        16,
        128,
        16,
    )
    assert isinstance(rate, kt.engine.hyperparameters.Float) and rate.sampling == "log"
    assert isinstance(rotation, kt.engine.hyperparameters.Float)  # a float setting: integer bounds give a float range
    assert space.holdout == 0.25 and space.tuner == "bayesian"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, r"recipe demo: \[tune\] has no keys to search"),
        ({"holdout": 0.2}, r"has no keys to search"),
        ({"model.blocks.0.dropout": []}, r"key 'model.blocks.0.dropout': empty list of choices"),
        ({"train.learning_rate": {"min": 0.1, "max": 0.01}}, r"range min 0.1 must be less than max 0.01"),
        ({"train.learnin_rate": [0.1, 0.2]}, r"key 'train.learnin_rate': no such setting in this recipe"),
        ({"model.blocks.7.dropout": [0.1]}, r"key 'model.blocks.7.dropout': no such setting"),
        ({"model.blocks.0": [0.1]}, r"key 'model.blocks.0': is a table, not a value"),
        ({"dropout": [0.1]}, r"unknown key 'dropout'; it takes holdout, tuner, max_trials and dotted recipe keys"),
        (
            {"model.blocks.0.dropout": [0.1, 2.0]},
            r"2.0 does not fit the recipe \(key model.blocks.0.dropout: 2.0 must be ≤ 0.95\)",
        ),
        ({"train.optimizer": ["adam", "adamx"]}, r"'adamx' does not fit the recipe .*'rmsprop'"),
        ({"train.optimizer": ["adam", 3]}, r"choices mix types"),
        ({"model.dense.0.units": [64, 64]}, r"choices repeat a value"),
        ({"train.learning_rate": {"min": 1e-4}}, r"range without max"),
        ({"train.learning_rate": {"min": 1e-4, "max": 1e-2, "scale": "log"}}, r"unknown range key 'scale'"),
        ({"train.learning_rate": {"min": 0, "max": 1e-2, "sampling": "log"}}, r"log sampling needs min > 0"),
        (
            {"train.batch_size": {"min": 16.5, "max": 128}},
            r"train.batch_size takes integers, so the range min must be one",
        ),
        ({"train.optimizer": "adam"}, r"expected a list of choices or a range"),
        (
            {"train.epochs": [1, 2], "holdout": 1.5},
            r"key holdout: must be a fraction strictly between 0 and 1, e.g. 0.2, got ",
        ),
        (
            {"train.epochs": [1, 2], "tuner": "grid"},
            r"key tuner: must be one of bayesian, hyperband, random, got 'grid'$",
        ),
        (
            {"train.epochs": [1, 2], "max_trials": 0},
            r"key max_trials: must be a whole number of trials from 1 to [\d,]+, got ",
        ),
    ],
)
def test_bad_spaces_fail_with_one_line_naming_the_key(table, message):
    with pytest.raises(KitError, match=message) as error:
        parse_space(with_tune(table))
    assert "\n" not in str(error.value)


def test_the_hypermodel_builds_exactly_what_build_model_builds():
    recipe = load_recipe("tuned-search")
    space = parse_space(recipe)
    values = {**space.declare(kt.HyperParameters()), "model.blocks.0.dropout": 0.4, "model.dense.0.units": 128}
    hp = kt.HyperParameters()
    space.declare(hp)
    hp.values.update(values)
    model = RecipeHyperModel(recipe, space, (28, 28, 1), 10, train_rows=1000).build(hp)
    plain = build_model(recipe.with_overrides(values), (28, 28, 1), 10, train_rows=1000)
    assert model.count_params() == plain.count_params() < build_model(recipe, (28, 28, 1), 10).count_params()
    rates = [layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"]
    assert rates == [0.4, 0.1, 0.1, 0.1] and model.optimizer.__class__.__name__ == "Adam"


def test_holdout_split_is_stratified_seeded_and_disjoint(tiny_dir, competition):
    images = load_train(tiny_dir, competition)
    fit, val = holdout_split(images, 0.2, seed=3)
    assert (len(fit), len(val)) == (160, 40) and not set(fit.ids) & set(val.ids)
    assert np.abs(np.bincount(val.labels, minlength=10) - np.bincount(images.labels) * 0.2).max() < 1
    assert np.array_equal(holdout_split(images, 0.2, seed=3)[1].ids, val.ids)
    assert not np.array_equal(holdout_split(images, 0.2, seed=4)[1].ids, val.ids)


# ------------------------------------------------------------------------------------------------ a tiny search


@pytest.fixture(scope="module")
def search(tmp_path_factory, tiny_dir):
    """Two random trials of the tiny recipe; the tuned recipe goes to another folder, so it extends it by path."""
    root = tmp_path_factory.mktemp("tune")
    (root / "source").mkdir()
    source = root / "source" / "tiny.toml"
    source.write_text(TINY)
    recorder = Recorder()
    result = run_tune(source, tiny_dir, out=root / "search", recipes_dir=root / "recipes", callbacks=[recorder])
    return root, source, result, recorder


@pytest.mark.slow
def test_search_runs_the_trials_and_reports_them(search):
    root, _, result, recorder = search
    assert (result.role, result.tuner, result.resumed, result.ran) == ("local", "random", 0, ("0", "1"))
    assert [trial_id for trial_id, _ in recorder.began] == recorder.ended == ["0", "1"]
    assert recorder.epochs == [("0", 1), ("1", 1)] and recorder.runs == [("tune", 2, 1)] and recorder.finished == 1
    assert isinstance(result, TuneResult) and result.best_values == result.trials[0].values
    assert len(result.notes) == 1 and "recipe tiny is not found by name from" in result.notes[0]  # so: by path
    assert len(result.trials) == 2 and result.trials[0].score >= result.trials[1].score
    for record in result.trials:
        assert record.status == "COMPLETED" and 0 <= record.score <= 1 and record.val_loss > 0
        assert (record.best_epoch, record.epochs, record.tuner_id) == (1, 1, "tuner0") and record.seconds > 0
        assert set(record.values) == {"model.blocks.0.dropout", "model.dense.0.units", "train.learning_rate"}
        trial_folder = root / "search" / f"trial_{record.trial_id}"
        assert json.loads((trial_folder / TRIAL_RECORD).read_text())["tuner_id"] == "tuner0"
        assert json.loads((trial_folder / "trial.json").read_text())["score"] == pytest.approx(record.score)
    assert json.loads((root / "search" / SEARCH_RECORD).read_text())["tuner"] == "random"


@pytest.mark.slow
def test_the_tuned_recipe_extends_the_source_with_the_best_values(search):
    root, source, result, _ = search
    path = root / "recipes" / "tiny-tuned.toml"
    assert result.tuned_path == path and written_by_kit(path)
    text = path.read_text()
    best = result.best
    assert f"trial {best.number}, val_accuracy {best.score:.4f} on a stratified 20% hold-out of 200 images" in text
    content = tomllib.loads(text)
    assert content["extends"] == str(source.resolve())  # not found by name from recipes/, so by path
    assert content["model"]["blocks"]["0"] == {"dropout": best.values["model.blocks.0.dropout"]}
    assert content["model"]["dense"]["0"] == {"units": best.values["model.dense.0.units"]}
    assert content["train"]["learning_rate"] == pytest.approx(best.values["train.learning_rate"], rel=1e-9)
    tuned, plain = load_recipe(str(path)), load_recipe(str(source))
    assert tuned.model.blocks[0].dropout == best.values["model.blocks.0.dropout"]
    assert tuned.model.dense[0].units == best.values["model.dense.0.units"]
    assert tuned.train == dataclasses.replace(plain.train, learning_rate=tuned.train.learning_rate)
    assert tuned.augment == plain.augment and tuned.callbacks == plain.callbacks and tuned.cv == plain.cv


@pytest.mark.slow
def test_rerun_continues_without_repeating_finished_trials(search, tiny_dir, tmp_path):
    root, source, result, _ = search
    shutil.copytree(root / "search", tmp_path / "search")
    finished = (tmp_path / "search" / "trial_0" / "trial.json").stat().st_mtime_ns
    same = Recorder()
    again = run_tune(source, tiny_dir, out=tmp_path / "search", recipes_dir=tmp_path, callbacks=[same])
    assert same.began == [] and again.ran == () and again.resumed == 2 and same.ended == ["0", "1"]
    assert again.trials == result.trials
    more = Recorder()
    extended = run_tune(source, tiny_dir, max_trials=3, out=tmp_path / "search", recipes_dir=tmp_path, callbacks=more)
    assert [trial_id for trial_id, _ in more.began] == ["2"] and extended.ran == ("2",) and extended.resumed == 2
    assert more.ended == ["0", "1", "2"] and more.runs == [("tune", 3, 1)]
    assert len({json.dumps(record.values, sort_keys=True) for record in extended.trials}) == 3
    assert (tmp_path / "search" / "trial_0" / "trial.json").stat().st_mtime_ns == finished


@pytest.mark.slow
def test_an_interrupted_trial_is_run_again_and_only_it(search, tiny_dir, tmp_path):
    root, source, _, _ = search
    shutil.copytree(root / "search", tmp_path / "search")
    stopped = Recorder(interrupt=True)
    with pytest.raises(KeyboardInterrupt):
        run_tune(source, tiny_dir, max_trials=3, out=tmp_path / "search", recipes_dir=tmp_path, callbacks=[stopped])
    resumed = Recorder()
    result = run_tune(
        source, tiny_dir, max_trials=3, out=tmp_path / "search", recipes_dir=tmp_path, callbacks=[resumed]
    )
    assert resumed.began == stopped.began and [trial_id for trial_id, _ in resumed.began] == ["2"]
    assert sorted(record.trial_id for record in result.trials) == ["0", "1", "2"]
    assert all(record.status == "COMPLETED" for record in result.trials)


@pytest.mark.slow
def test_another_search_in_the_folder_is_refused_then_restarted(search, tiny_dir, tmp_path):
    root, source, _, _ = search
    shutil.copytree(root / "search", tmp_path / "search")
    (tmp_path / "other").mkdir()
    other = tmp_path / "other" / "tiny.toml"
    other.write_text(TINY.replace('"model.dense.0.units" = [8, 16]', '"model.dense.0.units" = [8, 32]'))
    with pytest.raises(
        KitError, match=r"search holds a search with a different space; pass restart=True or out=\.\.\.$"
    ):
        run_tune(other, tiny_dir, out=tmp_path / "search", recipes_dir=tmp_path)
    with pytest.raises(KitError, match="different recipe hash"):
        run_tune(source, tiny_dir, epochs=2, out=tmp_path / "search", recipes_dir=tmp_path)
    assert json.loads((tmp_path / "search" / SEARCH_RECORD).read_text())["space"][1]["choices"] == [8, 16]  # kept
    fresh = run_tune(other, tiny_dir, max_trials=1, out=tmp_path / "search", recipes_dir=tmp_path, restart=True)
    assert fresh.resumed == 0 and [record.trial_id for record in fresh.trials] == ["0"]
    assert fresh.trials[0].values["model.dense.0.units"] in (8, 32)


@pytest.mark.slow
def test_a_hand_edited_tuned_recipe_is_kept_unless_forced(search, tiny_dir, tmp_path):
    root, source, _, _ = search
    shutil.copytree(root / "search", tmp_path / "search")
    shutil.copy(root / "recipes" / "tiny-tuned.toml", tmp_path / "tiny-tuned.toml")
    path = tmp_path / "tiny-tuned.toml"
    edited = path.read_text().replace("[train]", "[train]\nepochs = 40")
    path.write_text(edited)
    with pytest.raises(KitError, match=r"tiny-tuned.toml was edited by hand .*; pass force=True$"):
        run_tune(source, tiny_dir, out=tmp_path / "search", recipes_dir=tmp_path)
    assert path.read_text() == edited
    run_tune(source, tiny_dir, out=tmp_path / "search", recipes_dir=tmp_path, force=True)
    assert written_by_kit(path) and "epochs = 40" not in path.read_text()


@pytest.mark.slow
def test_bayesian_search_writes_a_tuned_recipe(search, tiny_dir, tmp_path):
    _, source, _, _ = search
    result = run_tune(source, tiny_dir, tuner="bayesian", out=tmp_path / "search", recipes_dir=tmp_path)
    assert result.tuner == "bayesian" and len(result.trials) == 2 and result.best is not None
    assert "the best of 2 bayesian trials" in (tmp_path / "tiny-tuned.toml").read_text()


@pytest.mark.slow
def test_hyperband_trains_the_best_of_a_bracket_on_for_more_epochs(search, tiny_dir, tmp_path):
    _, source, _, _ = search
    # max_epochs 3, factor 3: a bracket of three 1-epoch trials, then the best one continued to epoch 3
    result = run_tune(
        source, tiny_dir, tuner="hyperband", epochs=3, max_trials=4, out=tmp_path / "search", recipes_dir=tmp_path
    )
    assert sorted(record.epochs for record in result.trials) == [1, 1, 1, 3]
    first_round = [record for record in result.trials if record.epochs == 1]
    continued = next(record for record in result.trials if record.epochs == 3)
    best = max(record.score for record in first_round)
    assert continued.values in [record.values for record in first_round if record.score == best]
    assert 2 <= continued.best_epoch <= 3


@pytest.mark.slow
def test_a_recipe_object_with_overrides_gets_a_standalone_tuned_recipe(search, tiny_dir, tmp_path):
    _, source, _, _ = search
    recipe = load_recipe(str(source))
    result = run_tune(
        recipe,
        tiny_dir,
        max_trials=1,
        overrides={"train.batch_size": 16},
        out=tmp_path / "search",
        recipes_dir=tmp_path,
    )
    assert result.overrides == {"train.batch_size": 16} and result.notes == ()
    content = tomllib.loads(result.tuned_path.read_text())
    assert "extends" not in content and content["train"]["batch_size"] == 16
    tuned = load_recipe(str(result.tuned_path))
    assert tuned.train.batch_size == 16 and tuned.model.dense[0].units == result.best_values["model.dense.0.units"]
    assert "Searched with the overrides train.batch_size = 16" in result.tuned_path.read_text()


# ------------------------------------------------------------------------------------------------ the tuned file


def test_the_tuned_file_is_toml_with_a_hash_line_and_tidy_floats(tmp_path):
    content = {"description": "x", "extends": "demo", "train": {"learning_rate": 0.30000000000000004, "epochs": 2}}
    text = tuned_recipe_text(content, ["a comment", "another"])
    first, second, third = text.splitlines()[:3]
    assert first.startswith("# kit-tune-hash: ") and (second, third) == ("# a comment", "# another")
    assert tomllib.loads(text) == {**content, "train": {"learning_rate": 0.3, "epochs": 2}}
    path = tmp_path / "demo-tuned.toml"
    write_tuned_recipe(path, text, force=False)
    assert written_by_kit(path)
    path.write_text(text.replace("epochs = 2", "epochs = 3"))
    assert not written_by_kit(path)
    with pytest.raises(KitError, match=r"demo-tuned.toml was edited by hand .*; pass force=True$"):
        write_tuned_recipe(path, text, force=False)
    write_tuned_recipe(path, text, force=True)
    assert path.read_text() == text


# ------------------------------------------------------------------------------------------------ distribution


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"chief": "localhost"}, r"^--chief: must be HOST:PORT, e.g. 10.0.0.5:8000, got 'localhost'$"),
        ({"chief": "host:99999"}, r"^--chief: must be HOST:PORT, e.g. 10.0.0.5:8000, got 'host:99999'$"),
        ({"worker": "host:8000"}, r"^--worker-id: must be a distinct id for each worker, .*, got None$"),
        ({"worker": "host:8000", "worker_id": "mischief"}, r"not containing 'chief'"),
        ({"worker": "host:8000", "worker_id": "a b"}, r"^--worker-id: must be .*, got 'a b'$"),
        ({"worker_id": "w1"}, r"--worker-id needs --worker HOST:PORT"),
        ({"chief": "host:1", "worker": "host:1", "worker_id": "w1"}, r"--chief and --worker exclude each other"),
    ],
)
def test_bad_distribution_arguments_are_one_line_errors(arguments, message):
    with pytest.raises(KitError, match=message):
        distribution(**arguments)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("host", 0), r"role: port must be an integer from 1 to 65535, got 0"),
        (("", 8000), r"role: host must not be empty"),
        (("host", 8000, "mischief"), r"role: worker id 'mischief'.*not containing 'chief'"),
    ],
)
def test_a_bad_role_is_refused_speaking_of_arguments(arguments, message):
    with pytest.raises(KitError, match=message) as error:
        TuneRole(*arguments)
    assert "--" not in str(error.value)


def test_the_role_comes_from_kerastuners_variables_and_the_environment_is_restored(monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert TuneRole.from_environment() is None
    with kerastuner_environment(TuneRole("10.0.0.5", 8000, "gpu1")):
        assert TuneRole.from_environment() == TuneRole("10.0.0.5", 8000, "gpu1")
    assert "KERASTUNER_ORACLE_IP" not in os.environ
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "h")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "80x")
    with pytest.raises(KitError, match="KERASTUNER_ORACLE_PORT='80x': expected a port number"):
        TuneRole.from_environment()


def test_roles_map_to_kerastuners_environment():
    assert distribution() is None
    assert distribution(chief="0.0.0.0:8000").environment() == {
        "KERASTUNER_TUNER_ID": "chief",
        "KERASTUNER_ORACLE_IP": "0.0.0.0",
        "KERASTUNER_ORACLE_PORT": "8000",
    }
    worker = distribution(worker="10.0.0.5:8000", worker_id="gpu1")
    assert not worker.is_chief and worker.environment()["KERASTUNER_TUNER_ID"] == "gpu1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Output:
    """A subprocess's combined output, read by a thread so a test can wait for a line without blocking."""

    def __init__(self, process: subprocess.Popen):
        self.process, self.lines = process, queue.Queue()
        self.text: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.text.append(line)
            self.lines.put(line)

    def wait_for(self, fragment: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if fragment in self.lines.get(timeout=1):
                    return
            except queue.Empty:
                if self.process.poll() is not None:
                    break
        raise AssertionError(f"{fragment!r} never came:\n{''.join(self.text)}")


@pytest.mark.slow
def test_a_chief_and_two_workers_share_one_search_on_loopback(tmp_path, tiny_dir):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "tiny.toml").write_text(TINY)
    address = f"127.0.0.1:{free_port()}"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("KERASTUNER_")}
    command = [sys.executable, "-m", "kit", "tune", "tiny", "--data", str(tiny_dir), "--max-trials", "4"]

    def start(*role):
        process = subprocess.Popen(
            [*command, *role],
            cwd=tmp_path,
            env={**environment, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return Output(process)

    workers = {name: start("--worker", address, "--worker-id", name) for name in ("w1", "w2")}
    try:
        for output in workers.values():  # both wait for the chief, so each gets a trial as soon as it serves
            output.wait_for("asking the chief", timeout=120)
        chief = start("--chief", address)
        for output in [chief, *workers.values()]:
            assert output.process.wait(timeout=300) == 0, "".join(output.text)
    finally:
        for output in workers.values():
            if output.process.poll() is None:
                output.process.kill()
    project = tmp_path / "runs" / "tune" / "tiny"
    runners = [json.loads(path.read_text()) for path in sorted(project.glob(f"trial_*/{TRIAL_RECORD}"))]
    assert len(runners) == 4 and all(runner["status"] == "COMPLETED" for runner in runners)
    assert sorted({runner["tuner_id"] for runner in runners}) == ["w1", "w2"]
    for name, output in workers.items():
        finished = sum(runner["tuner_id"] == name for runner in runners)
        assert f"worker {name} ran {finished} trials" in "".join(output.text)
    assert "tiny: best 4 of 4 random trials" in "".join(chief.text)
    assert written_by_kit(tmp_path / "recipes" / "tiny-tuned.toml")
    assert load_recipe(str(tmp_path / "recipes" / "tiny-tuned.toml")).name == "tiny-tuned"


# ------------------------------------------------------------------------------------------------ the command


@pytest.mark.slow
def test_cli_tunes_then_cv_runs_the_tuned_recipe(tmp_path, tiny_dir, monkeypatch):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "tiny.toml").write_text(TINY)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["tune", "tiny", "--data", str(tiny_dir), "--tuner", "random", "--set", "augment.rotation=5.0"]
    tuned = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert tuned.exit_code == 0, tuned.output
    assert "tiny: best 2 of 2 random trials" in tuned.output and "best values (trial" in tuned.output
    assert "wrote recipes/tiny-tuned.toml — run it with: kit cv tiny-tuned" in tuned.output
    assert max(len(line) for line in tuned.output.splitlines()) <= 80
    content = tomllib.loads((tmp_path / "recipes" / "tiny-tuned.toml").read_text())
    assert content["extends"] == "tiny" and content["augment"] == {"rotation": 5.0}
    again = runner.invoke(app, args[:-2])
    assert (
        again.exit_code == 1 and "different recipe hash" in str(again.exception) and "--restart" in str(again.exception)
    )
    cv = runner.invoke(app, ["cv", "tiny-tuned", "--data", str(tiny_dir), "--folds", "2"])
    assert cv.exit_code == 0, cv.output
    assert (
        "OOF accuracy" in cv.output
        and (tmp_path / "runs" / "digit-recognizer" / "tiny-tuned" / "summary.json").is_file()
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tune", "base"], "error: recipe base: [tune] has no keys to search"),
        (
            ["tune", "demo", "--worker", "nowhere"],
            "error: --worker: must be HOST:PORT, e.g. 10.0.0.5:8000, got 'nowhere'",
        ),
    ],
)
def test_cli_errors_are_one_line(args, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", "kit", *args], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_library_errors_become_flags_on_the_command_line():
    from kit.cli.options import as_flags
    from kit.cli.tune import BENCH_ARGUMENTS, TUNE_ARGUMENTS

    reworded = as_flags(KitError("x.toml was edited by hand", fix=("force", True)), TUNE_ARGUMENTS)
    assert str(reworded) == "x.toml was edited by hand; rerun with --force"
    reworded = as_flags(KitError("f holds a search", fix=(("restart", True), ("out", ANOTHER))), TUNE_ARGUMENTS)
    assert str(reworded) == "f holds a search; rerun with --restart or --out ..."
    invalid = KitError.invalid("max_trials", "at least 1", 0)
    assert str(as_flags(invalid, TUNE_ARGUMENTS)) == "--max-trials: must be at least 1, got 0"
    assert str(as_flags(KitError.invalid("size", "at least 100 rows", 50), BENCH_ARGUMENTS)) == (
        "--size: must be at least 100 rows, got 50"
    )
    assert str(as_flags(KitError("recipe x: key train.epochs: 0"), TUNE_ARGUMENTS)) == "recipe x: key train.epochs: 0"
    assert str(as_flags(KitError("0.01", argument="tune.holdout"), TUNE_ARGUMENTS)) == "tune.holdout: 0.01"


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [["tune", "--help"], ["bench", "--help"], ["tune", "nosuch"], ["bench", "--recipe", "nosuch"], ["tune", "base"]],
)
def test_help_and_bad_arguments_import_no_tensorflow(args):
    probe = (
        "import sys\n"
        "from kit.cli import app\n"
        "from kit.errors import KitError\n"
        f"try:\n    app({args!r}, standalone_mode=False)\nexcept (SystemExit, KitError) as error:\n    print(error)\n"
        "heavy = ('tensorflow', 'keras', 'keras_tuner', 'sklearn')\n"
        "print('HEAVY', sorted(name for name in heavy if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout, done.stdout[-400:]
    if args[-1] == "--help":
        assert "--set" in done.stdout
    else:
        assert "recipe 'nosuch' not found" in done.stdout or "has no keys to search" in done.stdout
