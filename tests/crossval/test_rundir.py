"""Run folders that never lie: one writer, --force that cannot mix runs, checked reads, output checked before work,
non-finite guards, hold-out, and the Python API over them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import kit
from conftest import rerecord, tiny_recipe_toml
from kit.crossval import RunFolder, RunLock, list_runs, prepare_out
from kit.errors import KitError
from kit.utils import load_array, read_json, write_json

pytestmark = pytest.mark.slow  # trains models or starts subprocesses

TINY = tiny_recipe_toml("tiny run-folder recipe", epochs=1)


@pytest.fixture(scope="module")
def recipe_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("recipes") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory, recipe_path, tiny_dir):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    return kit.cv(str(recipe_path), tiny_dir, out=out)


def copy_run(finished, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(finished.path, copy)
    return copy


def test_python_api_returns_a_typed_frozen_result(finished):
    assert isinstance(finished, kit.CVResult)
    assert finished.oof.shape == (200, 10) and finished.test.shape == (40, 10)
    assert len(finished.folds) == 2 and all(isinstance(score, kit.FoldScore) for score in finished.folds)
    with pytest.raises(AttributeError):
        finished.oof_accuracy = 1.0
    again = kit.load_run(finished.path)
    assert again.oof_accuracy == finished.oof_accuracy and np.array_equal(again.oof, finished.oof)
    models = finished.models()
    assert len(models) == 2 and models[0].output_shape[-1] == 10


def test_overrides_are_recorded_and_listed(tmp_path, recipe_path, tiny_dir, finished):
    result = kit.cv(
        str(recipe_path), tiny_dir, out=tmp_path / "runs" / "lr", overrides={"train": {"learning_rate": 0.02}}
    )
    assert result.overrides == {"train.learning_rate": 0.02}
    assert result.recipe.train.learning_rate == 0.02
    shutil.copytree(finished.path, tmp_path / "runs" / "plain")
    listed = {info.path.name: info.result for info in list_runs(tmp_path / "runs")}
    assert listed["lr"].overrides == {"train.learning_rate": 0.02} and listed["plain"].overrides == {}
    with pytest.raises(KitError, match=r"differs in recipe hash, override train.learning_rate"):
        kit.cv(str(recipe_path), tiny_dir, out=tmp_path / "runs" / "lr")


def test_second_writer_is_refused_with_the_holder(tmp_path):
    folder = prepare_out(tmp_path / "run")
    with RunLock(folder):
        with pytest.raises(KitError, match=rf"another kit process is writing this run \(pid {os.getpid()} on "):
            with RunLock(folder):
                pass
    with RunLock(folder):  # released: taken again
        pass


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    folder = prepare_out(tmp_path / "run")
    code = (
        "from kit.crossval._rundir import RunLock; from pathlib import Path; import os; "
        f"RunLock(Path({str(folder)!r})).__enter__(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # dies holding the lock
    with RunLock(folder):
        pass


def test_interrupted_force_never_looks_finished(finished, tmp_path):
    copy = copy_run(finished, tmp_path)
    run = RunFolder(copy)
    run.invalidate()  # what --force does first, under the lock
    assert not (copy / "summary.json").exists() and not list(copy.glob("fold-*"))
    assert not (copy / "test.npy").exists()
    with pytest.raises(KitError, match="no summary.json"):
        kit.load_run(copy)


def test_mixed_folder_is_refused_by_every_reader(finished, tmp_path):
    copy = copy_run(finished, tmp_path)
    record = read_json(copy / "fold-2" / "fold.json", dict)
    record["recipe_hash"] = "0" * 16
    write_json(copy / "fold-2" / "fold.json", record)
    with pytest.raises(KitError, match="mixed run folder .fold-2 was trained with another recipe hash"):
        kit.load_run(copy)
    [info] = [info for info in list_runs(copy.parent) if info.path == copy]
    assert info.result is None and "mixed run folder" in info.status


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run: (run / "summary.json").write_text("{}"), r"summary.json: damaged \(recipe_hash: missing\)"),
        (
            lambda run: (run / "summary.json").write_text("[]"),
            "summary.json: damaged .expected a JSON dict, found list",
        ),
        (lambda run: (run / "summary.json").write_text("{oops"), "summary.json: damaged .not valid JSON"),
        (lambda run: (run / "fold-1" / "fold.json").write_text("[]"), "fold.json: damaged .expected a JSON dict"),
        (lambda run: (run / "oof.npy").write_bytes(b"\x93NUMPY trunc"), "oof.npy: damaged"),
        (
            lambda run: np.save(run / "oof.npy", np.zeros((3, 10), np.float32)),
            r"oof.npy: damaged .shape 3×10, expected 200×10",
        ),
        (lambda run: np.save(run / "oof.npy", np.full((200, 10), np.nan, np.float32)), "oof.npy: holds non-finite"),
    ],
)
def test_damaged_run_files_end_as_one_line(finished, tmp_path, damage, message):
    copy = copy_run(finished, tmp_path)
    damage(copy)
    if message.startswith("oof.npy"):  # the checksums refuse any changed array first; past them, its content is checked
        with pytest.raises(KitError, match=r"oof.npy: not the file run .* wrote \(its sha256 differs"):
            assert kit.load_run(copy).oof is not None
        rerecord(copy)
    with pytest.raises(KitError, match=message):
        result = kit.load_run(copy)
        assert result.oof is not None  # arrays are checked when read


def test_damaged_fold_is_retrained_on_resume(finished, tmp_path, recipe_path, tiny_dir):
    copy = copy_run(finished, tmp_path)
    np.save(copy / "fold-2" / "val_rows.npy", np.arange(7))  # a wrong val_rows.npy
    (copy / "summary.json").unlink()
    resumed = kit.cv(str(recipe_path), tiny_dir, out=copy)
    assert np.array_equal(resumed.oof, finished.oof)


def test_output_that_cannot_be_written_fails_before_training(tmp_path, recipe_path, tiny_dir):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    with pytest.raises(KitError, match="a-file: exists and is not a folder"):
        kit.cv(str(recipe_path), tiny_dir, out=afile)
    with pytest.raises(KitError, match="cannot write there"):
        kit.cv(str(recipe_path), tiny_dir, out=afile / "below")
    with pytest.raises(KitError, match="cannot write there"):
        kit.cv(str(recipe_path), tiny_dir, out="/proc/kit-run")
    if os.geteuid() != 0:  # root writes anywhere
        readonly = tmp_path / "ro"
        readonly.mkdir(mode=0o500)
        with pytest.raises(KitError, match="cannot write there"):
            kit.cv(str(recipe_path), tiny_dir, out=readonly / "run")


def test_write_errors_are_one_line_and_keep_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    write_json(target, {"kept": True})

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(
        KitError, match="summary.json: cannot write .No space left on device.; earlier results there are intact"
    ):
        write_json(target, {"kept": False})
    monkeypatch.undo()
    assert read_json(target) == {"kept": True} and not list(tmp_path.glob(".kit-tmp-*"))
    with pytest.raises(KitError, match="refusing to write a non-finite number"):
        write_json(target, {"loss": float("nan")})


def test_leftover_temporary_files_are_removed_on_the_next_run(finished, tmp_path, recipe_path, tiny_dir):
    copy = copy_run(finished, tmp_path)
    leftover = copy / "fold-1" / ".kit-tmp-abc123-model.keras"
    leftover.write_bytes(b"partial")
    kit.cv(str(recipe_path), tiny_dir, out=copy)
    assert not leftover.exists()


def test_non_finite_loss_stops_the_fold_with_one_line(tmp_path, recipe_path, tiny_dir, monkeypatch):
    import keras

    import kit.engine

    class Poison(keras.callbacks.Callback):  # the loss of a diverging model, without waiting for one to diverge
        def on_epoch_end(self, epoch, logs=None):
            logs["loss"] = float("nan")

    build = kit.engine.build_callbacks  # the fold takes it from the engine's face
    monkeypatch.setattr(kit.engine, "build_callbacks", lambda recipe: [*build(recipe), Poison()])
    with pytest.raises(KitError, match=r"fold 1: loss became nan at epoch 1; lower train.learning_rate"):
        kit.cv(str(recipe_path), tiny_dir, out=tmp_path / "run")
    assert not (tmp_path / "run" / "fold-1" / "fold.json").exists() and not (tmp_path / "run" / "summary.json").exists()


def test_single_class_data_is_refused(tmp_path, tiny_dir, recipe_path):
    import pandas as pd

    frame = pd.read_csv(tiny_dir / "train.csv")
    frame["label"] = 3
    (tmp_path / "one").mkdir()
    frame.to_csv(tmp_path / "one" / "train.csv", index=False)
    with pytest.raises(KitError, match="single class"):
        kit.cv(str(recipe_path), tmp_path / "one", out=tmp_path / "run")


def test_holdout_is_kept_out_of_every_fold(tmp_path, recipe_path, tiny_dir):
    result = kit.cv(str(recipe_path), tiny_dir, out=tmp_path / "run", holdout=0.2)
    held = load_array(result.path / "holdout_rows.npy")
    assert len(held) == 40 and result.holdout_rows == 40 and 0 <= result.holdout_accuracy <= 1
    for score in result.folds:
        rows = load_array(result.path / f"fold-{score.fold}" / "val_rows.npy")
        assert not set(rows) & set(held)
    assert result.holdout_accuracy == pytest.approx(np.mean(result.oof[held].argmax(1) == result.labels[held]))


def test_api_argument_errors_are_one_line(recipe_path, tiny_dir):
    with pytest.raises(KitError, match="^epochs: must be a whole number, got 'ten'$"):
        kit.cv(str(recipe_path), tiny_dir, epochs="ten")
    with pytest.raises(
        KitError, match="^recipe: must be a recipe name, a path to a .toml file or a kit.Recipe, got int$"
    ):
        kit.cv(42, tiny_dir)
    with pytest.raises(KitError, match="^callbacks: must be kit.Callback objects .*, got <built-in function print>$"):
        kit.cv(str(recipe_path), tiny_dir, callbacks=[print])


def test_pseudo_labels_join_training_parts_only_and_keep_runs_apart(finished, tmp_path, recipe_path, tiny_dir):
    out = tmp_path / "pseudo"
    result = kit.cv(str(recipe_path), tiny_dir, out=out, pseudo=[str(finished.path)], threshold=0.01)
    rows, labels = load_array(out / "pseudo_rows.npy"), load_array(out / "pseudo_labels.npy")
    assert result.summary.pseudo_rows == 40 and np.array_equal(rows, np.arange(40))
    assert np.array_equal(labels, finished.test.argmax(1))
    assert result.summary.pseudo and result.summary.pseudo != finished.summary.pseudo
    for score in result.folds:  # validation parts hold training rows only, as without pseudo-labels
        val_rows = load_array(out / f"fold-{score.fold}" / "val_rows.npy")
        assert np.array_equal(val_rows, load_array(finished.path / f"fold-{score.fold}" / "val_rows.npy"))
    with pytest.raises(KitError, match="differs in pseudo"):
        kit.cv(str(recipe_path), tiny_dir, out=out)


def test_probabilities_that_do_not_sum_to_one_are_refused(finished, tmp_path):
    copy = copy_run(finished, tmp_path)
    np.save(copy / "test.npy", np.full((40, 10), 0.5, np.float32))
    rerecord(copy)  # past the checksums: the reader still checks the softmax itself
    with pytest.raises(KitError, match=r"test.npy: not probabilities \(row 0 sums to 5.0000\)"):
        kit.predict([str(copy)], name="x", out=tmp_path / "subs")
    assert not (tmp_path / "subs" / "x.csv").exists()
