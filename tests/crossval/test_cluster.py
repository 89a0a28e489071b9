"""Folds on a Dask cluster: the same run folder as a local run, epochs relayed, workers checked, one GPU per worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from distributed import Client, LocalCluster, get_worker

from conftest import tiny_recipe_toml
from kit.crossval import connect, dask_folds, local_gpu_cluster, prepare_workers, run_cv
from kit.errors import KitError
from kit.recipes import load_recipe
from kit.utils import Callback

pytestmark = pytest.mark.slow  # trains models or starts subprocesses

TINY = tiny_recipe_toml("a tiny CNN for cluster tests", seed=5)
TIMING = {"seconds", "train_seconds", "finished_at"}


class Recorder(Callback):
    def __init__(self):
        self.epochs, self.folds, self.begun = [], [], []

    def on_fold_begin(self, fold):
        self.begun.append(fold)

    def on_epoch_end(self, fold, epoch, logs):
        self.epochs.append((fold, epoch, sorted(logs)))

    def on_fold_end(self, score, resumed):
        self.folds.append((score.fold, resumed))


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    path = tmp_path_factory.mktemp("recipe") / "tiny.toml"
    path.write_text(TINY)
    return load_recipe(str(path))


@pytest.fixture(scope="module")
def cluster():
    """Two one-thread worker processes on loopback, as `dask scheduler` + two `dask worker --nthreads 1` would give."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    ) as local:
        with Client(local) as client:  # both workers registered, so kit splits the cores between them before training
            client.wait_for_workers(2, timeout=60)
        yield local


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory, tiny_dir, recipe, cluster):
    folder = tmp_path_factory.mktemp("runs")
    recorder = Recorder()
    remote = run_cv(recipe, tiny_dir, out=folder / "cluster", callbacks=[recorder], cluster=cluster.scheduler_address)
    local = run_cv(recipe, tiny_dir, out=folder / "local", jobs=2)
    return folder, remote.summary.to_json(), local.summary.to_json(), recorder


def without_timing(summary):
    kept = {key: value for key, value in summary.items() if key not in TIMING}
    kept["folds"] = [{key: value for key, value in fold.items() if key not in TIMING} for fold in summary["folds"]]
    # a .keras archive records when it was saved, so its sha256 differs between two runs of the same weights
    kept["checksums"] = {
        name: digest for name, digest in (summary.get("checksums") or {}).items() if ".keras" not in name
    }
    return kept


def test_cluster_run_writes_the_same_run_folder_as_a_local_run(both_runs):
    folder, remote, local, _ = both_runs
    assert without_timing(remote) == without_timing(local)
    assert remote == json.loads((folder / "cluster" / "summary.json").read_text())
    files = sorted(path.relative_to(folder / "local") for path in (folder / "local").rglob("*"))
    assert sorted(path.relative_to(folder / "cluster") for path in (folder / "cluster").rglob("*")) == files
    for name in [path for path in files if path.suffix == ".npy"]:
        assert np.array_equal(np.load(folder / "cluster" / name), np.load(folder / "local" / name)), name


def test_models_come_back_from_the_workers_intact(both_runs):
    import keras

    folder, *_ = both_runs
    for fold in (1, 2):
        remote = keras.saving.load_model(folder / "cluster" / f"fold-{fold}" / "model.keras")
        local = keras.saving.load_model(folder / "local" / f"fold-{fold}" / "model.keras")
        assert all(np.array_equal(a, b) for a, b in zip(remote.get_weights(), local.get_weights()))


def test_epochs_and_folds_reach_the_client_progress(both_runs):
    *_, recorder = both_runs
    assert sorted(recorder.folds) == [(1, False), (2, False)] and sorted(recorder.begun) == [1, 2]
    assert sorted(fold_epoch[:2] for fold_epoch in recorder.epochs) == [(1, 1), (2, 1)]
    assert all({"loss", "val_accuracy"} <= set(keys) for *_, keys in recorder.epochs)


def test_finished_run_resumes_without_contacting_the_cluster(both_runs, tiny_dir, recipe):
    folder, remote, *_ = both_runs
    assert run_cv(recipe, tiny_dir, out=folder / "cluster", cluster="tcp://127.0.0.1:9").summary.to_json() == remote


def worker_address(job, train, test, report):
    return job, train, test, get_worker().address


def test_a_one_thread_cluster_still_trains_on_the_cluster():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as single:
        with dask_folds(single.scheduler_address, Callback(), [1, 2], task=worker_address) as run:
            places = sorted(run(["job-1", "job-2"]))
        address = single.workers[0].address
        assert places == [("job-1", [1, 2], None, address), ("job-2", [1, 2], None, address)]  # the data scattered


def test_workers_with_several_threads_are_refused():
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as shared:
        with pytest.raises(KitError, match=r"runs 2 threads; start workers with --nthreads 1"):
            with dask_folds(shared.scheduler_address, Callback()):
                pass


def test_a_scheduler_without_workers_is_a_one_line_error():
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as empty, Client(empty) as client:
        with pytest.raises(KitError, match=r"no Dask worker joined within 1 s; start one with `dask worker ADDRESS"):
            prepare_workers(client, timeout=1)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "tcp://garbage"])
def test_unreachable_scheduler_is_a_one_line_error(address):
    with pytest.raises(KitError, match=rf"^cluster: no Dask scheduler answered at {address} .*`dask scheduler`"):
        with connect(address, timeout=1):
            pass


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "tcp://garbage"])
def test_cli_cluster_error_has_no_traceback(tmp_path, tiny_dir, address):
    (tmp_path / "tiny.toml").write_text(TINY)
    args = ["cv", str(tmp_path / "tiny.toml"), "--data", str(tiny_dir), "--out", str(tmp_path / "run")]
    done = subprocess.run(
        [sys.executable, "-m", "kit", *args, "--cluster", address], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: --cluster: no Dask scheduler answered at {address} ("), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr  # nothing printed at exit
    assert not (tmp_path / "run" / "summary.json").exists()


def test_jobs_on_several_gpus_run_one_worker_per_gpu(monkeypatch, both_runs, tiny_dir, recipe, tmp_path):
    import kit.crossval._cluster

    started = []

    def recording(gpus, workers):
        started.append((list(gpus), workers))
        return local_gpu_cluster(gpus, workers)

    monkeypatch.setattr("kit.crossval._cluster.visible_gpus", lambda: ["0", "1"])
    monkeypatch.setattr(kit.crossval._cluster, "local_gpu_cluster", recording)
    summary = run_cv(recipe, tiny_dir, out=tmp_path / "gpus", jobs=2).summary.to_json()
    assert started == [(["0", "1"], 2)]
    assert without_timing(summary) == without_timing(both_runs[2])


def test_local_gpu_workers_each_see_one_gpu():
    with local_gpu_cluster(["3", "5"], workers=3) as gpu_cluster, Client(gpu_cluster) as client:
        seen = client.run(lambda: (os.environ["CUDA_VISIBLE_DEVICES"], os.environ["TF_FORCE_GPU_ALLOW_GROWTH"]))
        names = {address: info["name"] for address, info in client.scheduler_info()["workers"].items()}
    pinned = {names[address]: value for address, value in seen.items()}
    assert pinned == {0: ("3", "true"), 1: ("5", "true"), 2: ("3", "true")}
