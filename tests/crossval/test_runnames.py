"""Run-folder names: runs/<competition>/<recipe>, a bare name resolving to the one runs/*/<name> (ambiguous: one line
listing them), `kit runs` grouped by competition (kit distill's folders too), the demo label, and data found again
after it moved."""

from __future__ import annotations

import os
import shutil
import warnings

import pytest
from test_report import fake_run

from kit.crossval import default_run_dir, list_runs, resolve_run, run_label
from kit.crossval._rundir import RUNS_DIR
from kit.data import DemoDataWarning, resolve_data_dir, write_demo_data
from kit.errors import KitError
from kit.utils import write_json


def finished(folder):
    write_json(folder / "summary.json", {"recipe": "x"})
    return folder


def test_default_run_folder_is_under_the_competition(tmp_path, competition):
    assert default_run_dir("digit-recognizer", "tuned") == RUNS_DIR / "digit-recognizer" / "tuned"
    assert run_label(competition.name, tmp_path) == competition.name
    demo = write_demo_data(tmp_path / "demo", rows=200, test_size=50)
    assert run_label("digit-recognizer", demo) == "demo"
    assert run_label("Kannada-MNIST", demo) == "Kannada-MNIST-demo"


def test_a_bare_name_resolves_to_the_one_run_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = finished(RUNS_DIR / "digit-recognizer" / "demo")
    for reference in ("demo", "runs/demo", str(run)):
        assert resolve_run(reference).root == run
    old = finished(RUNS_DIR / "flat")  # a run of kits before the competition folders
    assert resolve_run("flat").root == old
    finished(RUNS_DIR / "demo" / "demo")  # runs/demo is now a competition folder, and both hold a run named demo
    with pytest.raises(KitError) as error:
        resolve_run("demo")
    message = str(error.value)
    assert "\n" not in message and "ambiguous" in message and "give the run folder's path" in message
    assert (
        os.path.join("runs", "demo", "demo") in message and os.path.join("runs", "digit-recognizer", "demo") in message
    )
    with pytest.raises(KitError, match=r"run nothing: no summary.json there or under runs/\*/"):
        resolve_run("nothing")


def test_runs_are_grouped_by_competition_demo_apart(tmp_path, tiny_dir, competition):
    root = tmp_path / "runs"
    fake_run(root / "digit-recognizer" / "weak", tiny_dir, competition, accuracy=0.6)
    fake_run(root / "demo" / "best", tiny_dir, competition, accuracy=0.99, group="demo")
    fake_run(root / "digit-recognizer" / "strong", tiny_dir, competition, accuracy=0.95)
    write_json(
        root / "demo" / "demo-distill" / "distill.json", {"competition": "demo", "student": {"holdout_accuracy": 0.9}}
    )
    runs = list_runs(root)
    assert [(run.competition, run.path.name) for run in runs] == [
        ("demo", "best"),
        ("demo", "demo-distill"),
        ("digit-recognizer", "strong"),
        ("digit-recognizer", "weak"),
    ]
    assert runs[1].result is None and runs[1].status == "distilled student, held-out accuracy 0.9000"


def test_a_run_finds_its_data_again_after_it_moved(tmp_path, tiny_dir, competition, monkeypatch):
    folder = fake_run(tmp_path / "runs" / "r", tiny_dir, competition)
    summary = resolve_run(folder).summary().model_copy(update={"data_dir": str(tmp_path / "gone")})
    assert summary.data_folder() == tmp_path / "gone"  # nowhere else to look: the loader names it
    moved = tmp_path / "data" / competition.name
    shutil.copytree(tiny_dir, moved)
    monkeypatch.chdir(tmp_path)
    assert summary.data_folder() == moved.resolve()
    assert summary.data_folder(tmp_path / "given") == tmp_path / "given"


def test_the_demo_fallback_is_announced(tmp_path, monkeypatch, competition):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = resolve_data_dir(None, competition)
    assert [str(warning.message) for warning in caught if warning.category is DemoDataWarning] == [
        f"no data folder given and no data/{competition.name}/: using kit's embedded demo digits in data/demo/ "
        "(runs labelled demo); give the competition folder with --data, or run `kit fetch`"
    ]
    assert run_label(competition.name, folder) == (
        "demo" if competition.name == "digit-recognizer" else f"{competition.name}-demo"
    )
