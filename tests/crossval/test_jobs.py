"""`--jobs auto`: how many folds train at once, decided without importing TensorFlow where no GPU exists; the
full-size bench's memory of a run's process tree."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import kit.crossval._runners
from kit.benchmark import process_tree, tree_memory_mib
from kit.crossval import AUTO_MIN_IMAGE_EPOCHS, auto_jobs, gpu_devices_present, visible_gpus


@pytest.fixture
def two_cores_plenty_of_memory(monkeypatch):
    monkeypatch.setattr(kit.crossval._runners, "usable_cores", lambda: 2)
    monkeypatch.setattr(kit.crossval._runners, "available_memory_mib", lambda: 16_000.0)


def test_auto_trains_one_fold_per_core_when_the_folds_are_large(two_cores_plenty_of_memory):
    assert auto_jobs(pending=5, fold_rows=33_600, epochs=15) == 2
    assert auto_jobs(pending=5, fold_rows=1_200, epochs=15) == 2  # the demo: 18,000 image-epochs per fold


def test_auto_trains_small_folds_and_single_folds_in_one_process(two_cores_plenty_of_memory):
    assert auto_jobs(pending=5, fold_rows=100, epochs=2) == 1
    assert auto_jobs(pending=5, fold_rows=AUTO_MIN_IMAGE_EPOCHS - 1, epochs=1) == 1
    assert auto_jobs(pending=1, fold_rows=33_600, epochs=15) == 1


def test_auto_is_bounded_by_cores_pending_folds_and_memory(monkeypatch):
    monkeypatch.setattr(kit.crossval._runners, "usable_cores", lambda: 16)
    monkeypatch.setattr(kit.crossval._runners, "available_memory_mib", lambda: 64_000.0)
    assert auto_jobs(pending=5, fold_rows=33_600, epochs=15) == 5
    monkeypatch.setattr(kit.crossval._runners, "available_memory_mib", lambda: 2_500.0)
    assert auto_jobs(pending=5, fold_rows=33_600, epochs=15) == 2
    monkeypatch.setattr(kit.crossval._runners, "available_memory_mib", lambda: 300.0)
    assert auto_jobs(pending=5, fold_rows=33_600, epochs=15) == 1


def test_auto_runs_one_fold_per_gpu_and_one_process_on_a_single_gpu(two_cores_plenty_of_memory):
    assert auto_jobs(pending=5, fold_rows=100, epochs=1, gpus=4) == 4
    assert auto_jobs(pending=3, fold_rows=100, epochs=1, gpus=8) == 3
    assert auto_jobs(pending=5, fold_rows=33_600, epochs=15, gpus=1) == 1


def test_hidden_gpus_are_not_looked_for(monkeypatch):
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert not gpu_devices_present()
        assert visible_gpus() == []


def test_no_gpu_device_means_no_tensorflow_import():
    code = (
        "import sys; from kit.crossval._cluster import visible_gpus; print(visible_gpus(), 'tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    if not gpu_devices_present():
        assert done.stdout.split() == ["[]", "False"]


def test_the_memory_of_a_process_tree_counts_its_children():
    sleeper = "[sys.executable, '-c', 'import time; time.sleep(30)']"
    code = f"import subprocess, sys, time; c = subprocess.Popen({sleeper}); time.sleep(30)"
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 20
        while len(process_tree(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        tree = process_tree(parent.pid)
        assert len(tree) == 2 and tree[0] == parent.pid
        assert tree_memory_mib(parent.pid) > tree_memory_mib(tree[1]) > 1
    finally:
        for pid in reversed(process_tree(parent.pid)):
            subprocess.run(["kill", str(pid)], check=False)
        parent.wait()
    assert tree_memory_mib(parent.pid) == 0
