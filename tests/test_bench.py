"""The bench's split, its arithmetic and a one-epoch end-to-end run (a smoke test, not a timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from kit.benchmark import verdict
from kit.cli import app
from kit.data import load_test, load_train
from kit.errors import KitError
from kit.fullsize import FULL_TRAIN_ROWS, write_full_size_data
from kit.measure import INFERENCE_ROWS, Contender, bench_data, steady_throughput

TINY = """
description = "a tiny CNN for the bench smoke test"
[[model.blocks]]
filters = 4
[model]
dense = [{ units = 8 }]
[train]
epochs = 2
batch_size = 32
"""


def as_rows(images):
    return {image.tobytes() for image in images}


def test_split_is_the_notebooks_stratified_80_20(demo_dir, competition):
    data = bench_data(demo_dir, competition, size=None)
    assert (len(data.fit_images), len(data.val_images)) == (1200, 300)
    assert np.abs(np.bincount(data.val_labels) / 300 - np.bincount(data.fit_labels) / 1200).max() < 0.01
    assert data.inference_images.shape == (INFERENCE_ROWS, 28, 28, 1) and not data.replicated
    again = bench_data(demo_dir, competition, size=None)
    assert np.array_equal(again.val_images, data.val_images)


def test_smaller_size_is_a_stratified_sample(demo_dir, competition):
    data = bench_data(demo_dir, competition, size=500)
    assert (len(data.fit_images), len(data.val_images)) == (400, 100)
    assert np.bincount(data.val_labels).min() >= 9


def test_larger_size_repeats_rows_without_leaking_validation_into_training(demo_dir, competition):
    data = bench_data(demo_dir, competition, size=6000)
    assert (len(data.fit_images), len(data.val_images)) == (4800, 1200) and data.replicated
    assert len(as_rows(data.fit_images)) == 1200 and len(as_rows(data.val_images)) == 300
    assert not as_rows(data.fit_images) & as_rows(data.val_images)


def test_too_small_a_size_is_refused(demo_dir, competition):
    with pytest.raises(KitError, match="size=50: the bench needs at least 100 rows"):
        bench_data(demo_dir, competition, size=50)


def contender(curve, accuracy=None, wall=None):
    return Contender("x", accuracy or curve[-1][1], wall or curve[-1][0], 0.0, 0.0, 0.0, curve)


def test_time_to_accuracy_and_steady_throughput():
    run = contender([(10.0, 0.90), (15.0, 0.97), (20.0, 0.99)])
    assert run.time_to(0.97) == 15.0 and run.time_to(0.995) is None
    assert steady_throughput(1000, run.curve) == pytest.approx(2 * 1000 / 10.0)


def test_an_option_is_kept_only_when_faster_without_costing_accuracy():
    slow = contender([(10.0, 0.95), (20.0, 0.99)])
    fast = contender([(6.0, 0.95), (12.0, 0.99)])
    sloppy = contender([(6.0, 0.95), (12.0, 0.97)])
    assert verdict(fast, slow, 0.99, 0.001) == "keep: faster, same accuracy"
    assert verdict(slow, fast, 0.99, 0.001) == "drop: not faster"
    assert verdict(sloppy, slow, 0.99, 0.001) == "drop: costs accuracy"


@pytest.mark.slow
def test_full_size_data_has_the_competitions_row_counts(demo_dir, competition, tmp_path):
    folder = write_full_size_data(demo_dir, competition, tmp_path / "full")
    assert len(load_train(folder, competition)) == FULL_TRAIN_ROWS
    assert len(load_test(folder, competition)) == INFERENCE_ROWS


@pytest.mark.slow
def test_bench_runs_end_to_end_and_writes_json(tmp_path, tiny_dir):
    (tmp_path / "tiny.toml").write_text(TINY)
    out = tmp_path / "bench"
    args = ["--recipe", str(tmp_path / "tiny.toml"), "--data", str(tiny_dir), "--notebook-epochs", "1", "--no-options"]
    done = subprocess.run(
        [sys.executable, "-m", "kit", "bench", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert done.returncode == 0, done.stderr
    assert "notebook pipeline" in done.stdout and "kit tiny" in done.stdout
    assert "`kit cv --help` starts in" in done.stdout
    assert f"wrote {out / 'bench.json'}" in " ".join(done.stdout.split())
    result = json.loads((out / "bench.json").read_text())
    startup = result["cli_startup"]
    assert len(startup["seconds"]) == 3 and startup["median"] == sorted(startup["seconds"])[1] > 0
    assert startup["target"] == 1.0 and startup["command"].endswith("cv --help")
    assert result["cv_estimate"] is None and result["option_images_per_s"] == {} and result["overrides"] == {}
    assert [c["name"] for c in result["contenders"]] == ["notebook pipeline", "kit tiny"]
    assert result["data"] == {
        "source": str(tiny_dir),
        "train_rows": 160,
        "validation_rows": 40,
        "inference_rows": INFERENCE_ROWS,
        "replicated": False,
    }
    notebook, kit = result["contenders"]
    assert len(notebook["curve"]) == 1 and len(kit["curve"]) == 2
    for measured in (notebook, kit):
        assert (
            measured["wall_seconds"] > 0 and measured["inference_images_per_s"] > 0 and measured["peak_rss_mib"] > 100
        )


def test_zero_notebook_epochs_are_refused_before_any_work(tmp_path):
    from kit.benchmark import run_bench

    with pytest.raises(KitError, match="notebook_epochs=0: the notebook pipeline needs at least 1 epoch"):
        run_bench(notebook_epochs=0, out=tmp_path)
    assert not (tmp_path / "bench.json").exists()
    (tmp_path / "taken").write_text("")
    with pytest.raises(KitError, match=r"out=.*taken: is a file; give the folder to write bench\.json into"):
        run_bench(out=tmp_path / "taken")


def test_set_overrides_reach_the_recipe_and_errors_name_flags(tmp_path, tiny_dir):
    (tmp_path / "tiny.toml").write_text(TINY)
    runner = CliRunner()
    base = [
        "bench",
        "--recipe",
        str(tmp_path / "tiny.toml"),
        "--data",
        str(tiny_dir),
        "--out",
        str(tmp_path / "b"),
    ]
    done = runner.invoke(app, [*base, "--set", "train.epochs=0"])
    assert done.exit_code == 1 and "train.epochs" in str(done.exception)
    done = runner.invoke(app, [*base, "--size", "50"])
    assert done.exit_code == 1 and str(done.exception).startswith("--size 50: the bench needs at least 100 rows")
    assert not (tmp_path / "b").exists()
