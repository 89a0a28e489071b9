"""The bench's splits, its arithmetic (pooled out-of-fold curves, medians over seeds), the automatic precision and a
quick end-to-end run (a smoke test, not a timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from kit.benchmark import (
    FULL_TRAIN_ROWS,
    INFERENCE_ROWS,
    Contender,
    SeedRun,
    bench_data,
    fold_data,
    median_curve,
    over_seeds,
    pooled,
    steady_throughput,
    verdict,
    write_full_size_data,
)
from kit.cli import app
from kit.data import load_test, load_train
from kit.errors import KitError

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
    with pytest.raises(KitError, match=r"^size: must be at least 100 rows \(10 classes\), got 50$"):
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
def test_bench_runs_end_to_end_and_writes_json_and_png(tmp_path, tiny_dir):
    (tmp_path / "tiny.toml").write_text(TINY)
    out = tmp_path / "bench"
    args = ["--recipe", str(tmp_path / "tiny.toml"), "--data", str(tiny_dir), "--quick"]
    done = subprocess.run(
        [sys.executable, "-m", "kit", "bench", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert done.returncode == 0, done.stderr
    assert "notebook" in done.stdout and "kit tiny" in done.stdout
    assert "`kit cv --help` starts in" in done.stdout
    assert f"wrote {out / 'bench.json'}" in " ".join(done.stdout.split())
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((out / "bench.json").read_text())
    startup = result["cli_startup"]
    assert len(startup["seconds"]) == 3 and startup["median"] == sorted(startup["seconds"])[1] > 0
    assert startup["target"] == 1.0 and startup["command"].endswith("cv --help")
    assert result["cv_estimate"] is None and result["option_images_per_s"] == {} and result["overrides"] == {}
    assert [c["name"] for c in result["contenders"]] == ["notebook pipeline", "kit tiny"]
    assert result["seeds"] == [0] and result["folds"] == 2 and result["ratio_target"] == 0.1
    assert result["data"] == {
        "source": str(tiny_dir),
        "train_rows": 100,
        "validation_rows": 100,
        "inference_rows": INFERENCE_ROWS,
        "replicated": False,
    }
    notebook, kit = result["contenders"]
    assert len(notebook["curve"]) == 2 and len(kit["curve"]) == 2  # --quick: 2 notebook epochs; the recipe's 2
    for measured in (notebook, kit):
        [run] = measured["seeds"]
        assert run["predictions"] == 200 and run["accuracy"] == measured["val_accuracy"] == measured["curve"][-1][1]
        assert measured["spread"] == [run["accuracy"], run["accuracy"]]
        assert (
            measured["wall_seconds"] > 0 and measured["inference_images_per_s"] > 0 and measured["peak_rss_mib"] > 100
        )
    assert kit["ensemble_images_per_s"] > 0 and notebook["ensemble_images_per_s"] is None
    assert kit["ensemble_engine"] == "tflite" and kit["ensemble_int8_images_per_s"] > 0
    assert 0.5 <= kit["ensemble_int8_agreement"] <= 1.0  # 1 epoch on 100 rows: an untrained net's classes shift


def test_folds_are_kit_cvs_splits_and_cover_every_row_once(demo_dir, competition):
    from kit.crossval import fold_splits
    from kit.data import load_train

    inference = np.zeros((4, 28, 28, 1), np.uint8)
    parts = fold_data(demo_dir, competition, None, 5, 1, inference)
    train = load_train(demo_dir, competition)
    assert [len(part.val_images) for part in parts] == [300] * 5
    held = np.concatenate([part.val_images for part in parts])
    assert len(as_rows(held)) == len(as_rows(train.images))
    first_fit, first_val = fold_splits(train.labels, 5, 1)[0]
    assert np.array_equal(parts[0].val_images, train.images[first_val])
    assert np.array_equal(parts[0].fit_labels, train.labels[first_fit]) and parts[0].inference_images is inference
    other = fold_data(demo_dir, competition, None, 5, 2, inference)
    assert not np.array_equal(other[0].val_images, parts[0].val_images)


def test_pooled_curve_weighs_folds_by_rows_and_seeds_give_medians():
    folds = [(((1.0, 0.5), (2.0, 1.0)), 100), (((3.0, 0.0), (4.0, 0.5)), 300)]
    assert pooled(folds) == ((2.0, (50 + 0) / 400), (3.0, (100 + 150) / 400))
    curves = [((1.0, 0.9), (2.0, 0.95)), ((3.0, 0.8), (4.0, 0.99)), ((2.0, 0.85), (3.0, 0.97), (9.0, 1.0))]
    assert median_curve(curves) == ((2.0, 0.85), (3.0, 0.97))
    runs = [SeedRun(seed, curve[-1][1], 400, curve[-1][0], curve) for seed, curve in enumerate(curves[:2])]
    rates = Contender("x", 0.0, 0.0, 123.0, 456.0, 0.0, ensemble_images_per_s=789.0, ensemble_int8_agreement=0.99)
    combined = over_seeds("kit", runs, rates)
    assert combined.val_accuracy == pytest.approx(0.97) and combined.spread == (0.95, 0.99)
    assert combined.wall_seconds == 3.0 and combined.curve == ((2.0, 0.85), (3.0, 0.97))
    assert (combined.train_images_per_s, combined.inference_images_per_s, combined.ensemble_images_per_s) == (
        123.0,
        456.0,
        789.0,
    )
    assert combined.ensemble_int8_agreement == 0.99


def test_auto_precision_is_bfloat16_only_where_the_cpu_has_it_and_float16_on_gpus(monkeypatch):
    from kit.utils import _runtime as runtime

    gpus = bool(runtime.import_tensorflow().config.list_physical_devices("GPU"))
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert runtime.resolve_precision("auto") == ("mixed_float16" if gpus else "float32")
    assert runtime.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    assert runtime.resolve_precision("auto") == ("mixed_float16" if gpus else "mixed_bfloat16")
    assert runtime.resolve_precision("float32") == "float32"


def test_zero_notebook_epochs_seeds_or_one_fold_are_refused_before_any_work(tmp_path):
    from kit.benchmark import run_bench

    with pytest.raises(
        KitError, match=r"^notebook_epochs: must be at least 1 \(epochs of the notebook pipeline\), got 0$"
    ):
        run_bench(notebook_epochs=0, out=tmp_path)
    with pytest.raises(KitError, match=r"^seeds: must be at least 1, got 0$"):
        run_bench(seeds=0, out=tmp_path)
    with pytest.raises(KitError, match=r"^folds: must be at least 2, got 1$"):
        run_bench(folds=1, out=tmp_path)
    assert not (tmp_path / "bench.json").exists()
    (tmp_path / "taken").write_text("")
    with pytest.raises(KitError, match=r"^out: .*taken is a file; give the folder to write bench\.json into$"):
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
    assert done.exit_code == 1 and str(done.exception).startswith("--size: must be at least 100 rows")
    done = runner.invoke(app, [*base, "--seeds", "0"])
    assert done.exit_code == 1 and str(done.exception) == "--seeds: must be at least 1, got 0"
    assert not (tmp_path / "b").exists()


def test_recipes_take_auto_precision_and_the_determinism_switch():
    from kit.recipes import load_recipe

    turbo = load_recipe("turbo")
    assert turbo.train.precision == "auto" and turbo.train.deterministic
    assert not turbo.with_overrides({"train.deterministic": False}).train.deterministic
    with pytest.raises(KitError, match="train.deterministic"):
        turbo.with_overrides({"train.deterministic": "no"})


@pytest.mark.slow
def test_full_size_times_each_whole_run_in_its_own_child(tmp_path, tiny_dir, competition, monkeypatch):
    """The full-size comparison on a shrunken "full size" (300 rows): both recipes' whole runs, each child's own
    peak memory, the ratio of their wall times, and a failing child named in one line."""
    from kit.benchmark import _fullsize as fullsize
    from kit.recipes import load_recipe

    monkeypatch.setattr(fullsize, "FULL_TRAIN_ROWS", 300)
    monkeypatch.setattr(fullsize, "INFERENCE_ROWS", 50)
    (tmp_path / "tiny.toml").write_text(TINY + "[cv]\nfolds = 2\n")
    (tmp_path / "wide.toml").write_text(TINY.replace("filters = 4", "filters = 8") + "[cv]\nfolds = 2\n")
    ours, baseline = (load_recipe(str(tmp_path / name)) for name in ("tiny.toml", "wide.toml"))
    full = fullsize.full_size_cv(ours, tiny_dir, competition, baseline=baseline)
    assert (full.train_rows, full.test_rows, full.folds) == (300, 50, 2)
    assert [(run.recipe, run.epochs) for run in full.runs] == [("tiny", 2), ("wide", 2)]
    for run in full.runs:
        assert run.wall_seconds > 0 and 100 < run.peak_rss_mib < 4096 and 0 <= run.oof_accuracy <= 1
    assert full.ratio == pytest.approx(full.runs[0].wall_seconds / full.runs[1].wall_seconds, abs=1e-3)
    (tmp_path / "empty").mkdir()  # no train.csv to repeat: the child fails
    with pytest.raises(KitError, match=r"^the full-size `kit cv tiny` failed: .*train.csv"):
        fullsize.full_size_cv(ours, tmp_path / "empty", competition, baseline=baseline)
