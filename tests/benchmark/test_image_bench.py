"""The bench's image-file phase on a tiny size (a smoke test, not a timing), and the streaming path it measures: a
fold trained from a cache read batch by batch gives the numbers of the same fold trained on the images in memory."""

from __future__ import annotations

import tomllib
from dataclasses import replace

import numpy as np
import pytest

from kit.benchmark._images import ImageBench, run_image_bench, write_competition
from kit.data._rows import BUDGET_ENV
from kit.recipes import parse_recipe

TINY = """
[[model.blocks]]
filters = 4
strides = 2
[model]
head = "global_avg"
[train]
epochs = 2
batch_size = 16
[cv]
folds = 2
[augment]
flip_horizontal = true
crop = 0.6
rotation = 10.0
"""


def tiny(name: str = "tiny"):
    return parse_recipe(tomllib.loads(TINY), name)


@pytest.mark.slow
def test_the_image_phase_runs_on_a_tiny_size_and_reports_its_fields(tmp_path, monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "64K")  # the large set (and the child's `kit cv`) streams from its cache
    result = run_image_bench(
        rows=200, large_rows=240, side=32, large_side=32, builds=2, epoch_recipe=tiny(), large_recipe=tiny("big"),
        workdir=tmp_path,
    )  # fmt: skip
    assert isinstance(result, ImageBench) and result.memory_budget_bytes == 64 << 10
    build = result.build
    assert (build.rows, build.shape, build.source_side, len(build.seconds)) == (200, (32, 32, 3), 42, 2)
    assert build.images_per_s > 0 and build.cache_gib == round(200 * 32 * 32 * 3 / 2**30, 3)
    epoch = result.epoch
    assert (epoch.recipe, epoch.train_rows, epoch.val_rows) == ("tiny", 100, 100)
    assert epoch.same_numbers and epoch.memory_seconds > 0 and epoch.streamed_seconds > 0 and epoch.target == 1.1
    large = result.large
    assert large.build.rows == 240 and large.build.source_side == 9 and large.folds == 2
    assert large.peak_mib > 100 and large.wall_seconds > 0 and 0 <= large.oof_accuracy <= 1
    assert "VmHWM" in large.measured and "--jobs 1" in large.command and large.target_mib == 2048
    assert list(tmp_path.iterdir()) == []  # the generated images and caches are gone
    check_images_only_command(result, tmp_path, monkeypatch)


def check_images_only_command(result, tmp_path, monkeypatch):
    """`kit bench --images-only` shows the phase's lines and adds them to bench.json, keeping what it held."""
    import json

    from typer.testing import CliRunner

    import kit.benchmark
    from kit.cli import app

    monkeypatch.setattr(kit.benchmark, "run_image_bench", lambda **_: result)
    (tmp_path / "bench.json").write_text(json.dumps({"recipe": "turbo", "images": None}))
    done = CliRunner().invoke(app, ["bench", "--images-only", "--out", str(tmp_path)], env={"COLUMNS": "400"})
    assert done.exit_code == 0, done.output
    assert "image cache: 200 42×42 JPEGs decoded to 32×32×3 at" in done.output
    assert "read from the cache file batch by batch" in done.output and "the same numbers" in done.output
    assert "1 epoch of 2 folds of big in" in done.output and "VmHWM" in done.output
    written = json.loads((tmp_path / "bench.json").read_text())
    assert written["recipe"] == "turbo" and written["images"]["build"]["rows"] == 200
    assert written["images"]["large"]["peak_mib"] == result.large.peak_mib


def test_a_fold_streamed_from_the_cache_gives_the_numbers_of_the_fold_in_memory(tmp_path, monkeypatch):
    import kit.data._cache as cache
    from kit.crossval import fold_splits
    from kit.crossval._fold import FoldJob, train_fold
    from kit.data import LazyRows, load_train, take_rows

    competition = write_competition(tmp_path / "data", 90, 24, 30)
    train = load_train(tmp_path / "data", competition)
    in_memory = replace(train, images=np.array(train.images), source=None)
    fit, val = fold_splits(train.labels[:80], 2, 0)[0]
    recipe = tiny().with_overrides({"train.epochs": 2})
    job = FoldJob.of(recipe, 1, (fit, val), 10, holdout=np.arange(80, 90))

    pixels_hash = in_memory.fingerprint()
    monkeypatch.setenv(BUDGET_ENV, "1K")
    assert isinstance(take_rows(train.images, fit), LazyRows)
    monkeypatch.setattr(cache, "chunked_sha256", lambda *_: pytest.fail("a cached set's pixels were hashed"))
    assert len(train.fingerprint()) == 16 and train.fingerprint() != pixels_hash  # from the cache's key
    streamed = train_fold(job, train, None)
    monkeypatch.undo()
    expected = train_fold(job, in_memory, None)
    assert streamed.history == expected.history and len(expected.history["loss"]) == 2
    assert np.array_equal(streamed.val_proba, expected.val_proba)
    assert np.array_equal(streamed.holdout_proba, expected.holdout_proba)
    assert streamed.record["val_accuracy"] == expected.record["val_accuracy"]
