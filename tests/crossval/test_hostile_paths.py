"""Hostile run folders: links out of the run, a lock-file loop, leftovers and --force that touch only kit's files,
unreadable folders and write errors mid-run — each one line, nothing outside the run touched, earlier results intact."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

import kit
from conftest import tiny_recipe_toml
from kit.crossval import RunFolder, RunLock
from kit.crossval._rundir import remove_leftovers
from kit.crossval._runnames import resolve_run
from kit.errors import KitError
from kit.utils import load_array, save_array

TINY = tiny_recipe_toml("tiny hostile-path recipe", epochs=1)


@pytest.fixture
def recipe_path(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A user's folder outside the run, with files kit must never change."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "fold.json").write_text("mine")
    (folder / "model.keras").write_text("mine too")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize("where", ["fold-1", "fold-1/checkpoint", "fold-7"])
def test_a_fold_folder_linked_out_of_the_run_is_refused_before_any_write(
    tmp_path, recipe_path, tiny_dir, elsewhere, where
):
    out = tmp_path / "run"
    (out / where).parent.mkdir(parents=True, exist_ok=True)
    (out / where).symlink_to(elsewhere, target_is_directory=True)
    before = snapshot(elsewhere)
    for force in (False, True):
        with pytest.raises(KitError, match=rf"{where} is a symbolic link out of the run folder") as caught:
            kit.cv(str(recipe_path), tiny_dir, out=out, force=force)
        assert "\n" not in str(caught.value)
    with pytest.raises(KitError, match="symbolic link out of the run folder"):
        RunFolder(out).invalidate()
    assert snapshot(elsewhere) == before and not (out / "summary.json").exists()


def test_a_lock_file_that_is_a_link_or_a_loop_is_one_line(tmp_path, elsewhere):
    loop = tmp_path / "loop"
    loop.mkdir()
    (loop / ".kit.lock").symlink_to(loop / ".kit.lock")
    with pytest.raises(KitError, match=r"\.kit\.lock is a symbolic link; kit never writes through one"):
        with RunLock(loop):
            pass
    out = tmp_path / "out"
    out.mkdir()
    (out / ".kit.lock").symlink_to(elsewhere / "fold.json")
    with pytest.raises(KitError, match="symbolic link"):
        with RunLock(out):
            pass
    assert (elsewhere / "fold.json").read_text() == "mine"


def test_leftover_cleaning_removes_only_kits_temporaries_where_kit_writes(tmp_path):
    out = tmp_path / "out"
    users = [out / "deep" / "sub" / ".draft.tmp.txt", out / ".notes.tmp", out / "fold-1" / ".mine.tmp.keras"]
    kits = [
        out / ".kit-tmp-ab12cd34-oof.npy",
        out / "fold-1" / ".kit-tmp-0-model.keras",
        out / "fold-1" / "checkpoint" / ".kit-tmp-1-state.json",
        out / "fold-1" / "checkpoint" / "snapshots" / ".kit-tmp-2-snapshot-1.npz",
        out / "fold-1" / "checkpoint" / ".kit-tmp-3-model-00001.keras",
    ]
    for path in [*users, *kits, out / "deep" / ".kit-tmp-9-not-kits-folder"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert remove_leftovers(out) == len(kits)
    assert all(path.exists() for path in users) and not any(path.exists() for path in kits)
    assert (out / "deep" / ".kit-tmp-9-not-kits-folder").exists()  # kit never writes there: not its to clean


def test_force_removes_only_the_files_of_the_run_folder_contract(tmp_path):
    out = tmp_path / "out"
    contract = ["summary.json", "oof.npy", "labels.npy", "fold-1/fold.json", "fold-1/model.keras"]
    contract += ["fold-2/fold.json", "fold-2/checkpoint/state.json", "fold-2/checkpoint/model-00001.keras"]
    contract += ["fold-2/checkpoint/snapshots/snapshot-1.npz", "fold-3/history.json"]
    users = ["notes.txt", "deep/sub/.draft.tmp.txt", "fold-1/notes.txt", "fold-2/checkpoint/mine.txt", "fold-x/a"]
    for name in [*contract, *users]:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    RunFolder(out).invalidate()
    assert not any((out / name).exists() for name in contract)
    assert all((out / name).read_text() == "x" for name in users)
    assert not (out / "fold-3").exists() and not (out / "fold-2" / "checkpoint" / "snapshots").exists()


def test_an_unreadable_run_folder_is_one_line(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    save_array(run / "oof.npy", __import__("numpy").zeros((2, 2), dtype="float32"))
    real_is_file, real_open = Path.is_file, open

    def denied(path, *args, **kwargs):
        if str(path).startswith(str(run)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_is_file(path, *args, **kwargs)

    monkeypatch.setattr(Path, "is_file", denied)
    with pytest.raises(KitError, match=r"run[/\\]summary.json: cannot read it \(Permission denied\)$"):
        resolve_run(run)
    with pytest.raises(KitError, match=r"fold-1: cannot read it \(Permission denied\)$"):
        RunFolder(run).load_fold(1)
    monkeypatch.undo()

    def denied_open(file, *args, **kwargs):
        if str(file).endswith("oof.npy"):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", denied_open)
    with pytest.raises(KitError, match=r"oof.npy: cannot read it \(Permission denied\)$"):
        load_array(run / "oof.npy")


@pytest.mark.slow
def test_a_full_disk_during_a_fold_is_one_line_and_keeps_earlier_results(tmp_path, recipe_path, tiny_dir, monkeypatch):
    import keras

    out = tmp_path / "run"
    kit.cv(str(recipe_path), tiny_dir, out=out, jobs=1)
    before = snapshot(out)

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full)
    other = tmp_path / "other"
    with pytest.raises(KitError, match=r"checkpoint[/\\]model-00001\.keras: cannot write \(No space left on device\)"):
        kit.cv(str(recipe_path), tiny_dir, out=other, jobs=1)
    assert not list(other.rglob(".kit-tmp-*")) and not list(other.rglob("fold.json"))
    assert kit.cv(str(recipe_path), tiny_dir, out=out, jobs=1).oof.shape == (200, 10)  # finished: nothing to save
    monkeypatch.undo()
    after = snapshot(out)
    assert {name: after[name] for name in before if name != "summary.json"} == {
        name: data for name, data in before.items() if name != "summary.json"
    }


@pytest.mark.slow
def test_a_file_size_limit_ends_as_one_line(tmp_path, recipe_path, tiny_dir):
    out = tmp_path / "run"
    command = f"ulimit -f 24; exec {sys.executable} -m kit cv {recipe_path} --data {tiny_dir} --out {out} --jobs 1"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr[-2000:]
    assert "File too large" in lines[0] and ".keras" in lines[0]
    assert not (out / "summary.json").exists() and not list(out.rglob(".kit-tmp-*"))


def test_the_cli_words_a_stray_os_error_as_one_line():
    from kit.cli.app import os_error_line

    line = os_error_line(OSError(errno.EFBIG, "File too large", "runs/x/oof.npy"))
    assert line.startswith("runs/x/oof.npy: File too large") and "\n" not in line
