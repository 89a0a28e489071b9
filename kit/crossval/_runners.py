"""Where pending folds train: in this process, in joblib worker processes (``jobs``), or on a Dask cluster; each
finished fold is saved into the run folder as it arrives, its checkpoint removed, and reported to the callbacks."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from kit.crossval._fold import EpochReport, fold_score, train_fold
from kit.crossval._rundir import FoldResult, RunFolder
from kit.data import ImageSet
from kit.recipes import Recipe
from kit.utils import Callback, CallbackList, available_memory_mib, usable_cores

CHECKPOINT = "checkpoint"  # fold-K/checkpoint/: the training state of an unfinished fold, per epoch
AUTO = "auto"
AUTO_MIN_IMAGE_EPOCHS = 10_000  # below this a fold trains in less time than a worker process takes to start
AUTO_WORKER_MIB = 1024  # memory kept free per worker (a full-size Digit Recognizer fold's worker peaks at ~0.7 GiB)


def auto_jobs(pending: int, fold_rows: int, epochs: int, gpus: int = 0) -> int:
    """How many folds ``jobs="auto"`` trains at once: one per GPU where several are visible; on CPUs one
    single-threaded fold per core (two one-thread folds beat one two-thread fold by ~10 % on 2 cores;
    docs/speed-notes.md), as far as the pending folds, the available memory and the work allow: folds of fewer than
    AUTO_MIN_IMAGE_EPOCHS training images × epochs train in one process. As with any ``jobs``, the thread count per
    fold follows, so the last digits can differ from a run with other ``jobs`` (``turbo``'s demo numbers did not)."""
    if gpus > 1:
        return min(gpus, pending)
    if gpus or pending < 2 or fold_rows * epochs < AUTO_MIN_IMAGE_EPOCHS:
        return 1
    jobs = min(pending, usable_cores())
    memory = available_memory_mib()
    if memory is not None:
        jobs = min(jobs, max(1, int(memory // AUTO_WORKER_MIB)))
    return jobs


@contextmanager
def local_folds(callbacks: Callback, parallel: bool, jobs: int) -> Iterator[tuple[EpochReport, Any]]:
    """An epoch reporter fit for worker processes (a manager queue drained into ``callbacks`` by a thread) and a
    runner that trains the fold calls in ``jobs`` joblib processes, yielding results as they finish."""
    from joblib import Parallel, delayed

    def runner(function: Callable[..., Any], calls: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
        return Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(function)(*call) for call in calls)

    def deliver(fold: int, epoch: int, logs: dict[str, float]) -> None:
        if epoch == 0:
            callbacks.on_fold_begin(fold)
        else:
            callbacks.on_epoch_end(fold, epoch, logs)

    if not parallel:
        yield deliver, runner
        return
    from multiprocessing import Manager

    with Manager() as manager:
        queue = manager.Queue()

        def drain() -> None:
            while (item := queue.get()) is not None:
                deliver(*item)

        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        try:
            yield (lambda fold, epoch, logs: queue.put((fold, epoch, logs))), runner
        finally:
            queue.put(None)
            thread.join(timeout=5)


def train_pending(
    recipe: Recipe,
    pending: list[int],
    splits: list,
    train: ImageSet,
    test: ImageSet | None,
    classes: int,
    held: np.ndarray,
    extra: Any,
    identity: dict[str, Any],
    run: RunFolder,
    results: dict[int, FoldResult],
    listeners: CallbackList,
    jobs: int | str,
    cluster: str | None,
) -> None:
    """Train the pending folds here, in joblib processes or on a Dask cluster, saving each as it finishes; ``jobs``
    is a number of folds at once or ``"auto"`` (:func:`auto_jobs`)."""
    from kit.crossval._cluster import dask_folds, visible_gpus

    gpus = visible_gpus() if cluster is None and len(pending) > 1 and (jobs == AUTO or jobs > 1) else []
    if jobs == AUTO:
        fold_rows = len(splits[pending[0] - 1][0]) if pending else 0
        jobs = auto_jobs(len(pending), fold_rows, recipe.train.epochs, len(gpus))
    parallel = jobs > 1 and len(pending) > 1
    on_dask = bool(pending) and (cluster is not None or (parallel and len(gpus) > 1))
    threads = max(1, usable_cores() // jobs) if parallel and not on_dask else None
    if on_dask:
        relay = dask_folds(cluster, listeners, scatter=(train, test), gpus=gpus, workers=min(jobs, len(pending)))
    else:
        relay = local_folds(listeners, parallel, min(jobs, max(1, len(pending))))
    with relay as (report, runner):
        calls = [
            (
                recipe,
                fold,
                splits[fold - 1],
                train,
                test,
                classes,
                report,
                threads,
                held,
                extra,
                None if on_dask else (run.fold_dir(fold) / CHECKPOINT, {**identity, "fold": fold}),
            )
            for fold in pending
        ]
        for result in runner(train_fold, calls):
            result.record.update(identity)
            run.save_fold(result)
            shutil.rmtree(run.fold_dir(result.fold) / CHECKPOINT, ignore_errors=True)  # the fold is done
            results[result.fold] = result
            listeners.on_fold_end(fold_score(result), resumed=False)
