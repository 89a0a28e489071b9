"""A fold is a value: :class:`FoldJob` holds everything one fold needs but the images, is built in one place for the
pending folds, and pickles, as worker processes and Dask workers receive it."""

from __future__ import annotations

import pickle
from dataclasses import fields

import numpy as np
import pytest

from conftest import tiny_recipe_toml
from kit.crossval import FoldJob
from kit.crossval._rundir import RunFolder
from kit.crossval._runners import CHECKPOINT, Placement, fold_jobs
from kit.recipes import load_recipe


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_recipe_toml("a tiny CNN for fold jobs", seed=7))
    return load_recipe(str(path))


def assert_same_job(one: FoldJob, other: FoldJob) -> None:
    for spec in fields(FoldJob):
        mine, theirs = getattr(one, spec.name), getattr(other, spec.name)
        if isinstance(mine, np.ndarray):
            assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs), spec.name
        elif spec.name == "recipe":
            assert mine.content_hash == theirs.content_hash and mine.content == theirs.content
        else:
            assert mine == theirs, spec.name


def test_a_fold_job_round_trips_through_pickle(recipe, tmp_path):
    rows = (np.arange(0, 80), np.arange(80, 100))
    pseudo = (np.array([3, 5, 8]), np.array([1, 0, 2], dtype=np.int64))
    identity = {"recipe_hash": recipe.content_hash, "fold": 2}
    job = FoldJob.of(
        recipe, 2, rows, 3, holdout=np.arange(100, 110), pseudo=pseudo, threads=1, checkpoint=(tmp_path, identity)
    )
    assert job.seed == 7 * 1000 + 2 and job.checkpoint == tmp_path and job.identity == identity
    assert np.array_equal(job.holdout, np.arange(100, 110)) and np.array_equal(job.pseudo_rows, pseudo[0])
    back = pickle.loads(pickle.dumps(job))
    assert isinstance(back, FoldJob) and back is not job
    assert_same_job(back, job)
    with pytest.raises(AttributeError):
        back.fold = 3  # frozen


def test_a_fold_job_without_extras_has_no_holdout_pseudo_rows_or_checkpoint(recipe):
    job = FoldJob.of(recipe, 1, (np.arange(5), np.arange(5, 8)), 3, holdout=np.arange(0))
    assert job.holdout is None and job.pseudo_rows is None and job.checkpoint is None and job.identity is None
    assert_same_job(pickle.loads(pickle.dumps(job)), job)


def test_pending_folds_become_jobs_with_their_checkpoints_except_on_dask(recipe, tmp_path):
    splits = [(np.arange(10, 20), np.arange(0, 10)), (np.arange(0, 10), np.arange(10, 20))]
    run = RunFolder(tmp_path)
    here = Placement(jobs=2, parallel=True, on_dask=False, gpus=[], threads=1)
    jobs = fold_jobs(recipe, [2], splits, 3, np.arange(0), None, {"seed": 7}, run, here)
    assert [job.fold for job in jobs] == [2] and np.array_equal(jobs[0].val_rows, splits[1][1])
    assert jobs[0].checkpoint == run.fold_dir(2) / CHECKPOINT and jobs[0].identity == {"seed": 7, "fold": 2}
    assert jobs[0].threads == 1
    on_dask = Placement(jobs=2, parallel=True, on_dask=True, gpus=[], threads=None)
    jobs = fold_jobs(recipe, [1, 2], splits, 3, np.arange(0), None, {"seed": 7}, run, on_dask)
    assert [job.checkpoint for job in jobs] == [None, None] and [job.threads for job in jobs] == [None, None]
