"""Where pending folds train: in this process, in joblib worker processes (``jobs``), or on a Dask cluster; each
finished fold is saved into the run folder as it arrives, its checkpoint removed, and reported to the callbacks."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import numpy as np

from kit.crossval._fold import EpochReport, FoldJob, Runner, fold_score, train_fold
from kit.crossval._rundir import FoldResult, RunFolder
from kit.data import ImageSet
from kit.errors import KitError
from kit.recipes import Recipe
from kit.utils import Callback, CallbackList, available_memory_mib, usable_cores
from kit.utils._callbacks import BUILDING_MODEL

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


def _deliverer(callbacks: Callback) -> EpochReport:
    """An epoch reporter that hands a fold's events to ``callbacks`` (epoch 0: the fold begins, and maybe resumes)."""

    def deliver(fold: int, epoch: int, logs: dict[str, float]) -> None:
        if epoch == 0:
            callbacks.on_fold_begin(fold)
            if logs.get("resumed_at"):
                callbacks.on_fold_resume(fold, int(logs["resumed_at"]), int(logs["epochs"]))
        else:
            callbacks.on_epoch_end(fold, epoch, logs)

    return deliver


@contextmanager
def in_process(callbacks: Callback, train: ImageSet, test: ImageSet | None) -> Iterator[Runner]:
    """A runner that trains the folds one after another in this process."""
    report = _deliverer(callbacks)
    yield lambda jobs: (train_fold(job, train, test, report) for job in jobs)


def _train_in_worker(
    job: FoldJob, train: ImageSet, test: ImageSet | None, report: EpochReport, started: Any
) -> FoldResult:
    """Run in a joblib worker: note which process trains the fold (``started``: a manager dict), then train it."""
    started[job.fold] = os.getpid()
    return train_fold(job, train, test, report)


class DeathWatch:
    """Notes, in order, the folds whose worker process died, from the moment it dies (joblib then kills the other
    workers too, so afterwards every worker is dead). ``started`` (a manager dict) maps a fold to its worker's pid."""

    def __init__(self, started: Any) -> None:
        self.started, self.died = started, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self) -> None:
        import select

        watched: dict[int, int] = {}  # pidfd → fold
        while not self.stop.is_set():
            with suppress(Exception):  # the manager gone at exit, a pid already reaped
                for fold, pid in list(self.started.items()):
                    if fold not in watched.values() and fold not in self.died:
                        watched[os.pidfd_open(pid)] = fold
            ready = select.select(list(watched), [], [], 0.05)[0] if watched else []
            for descriptor in ready:
                self.died.append(watched.pop(descriptor))
                os.close(descriptor)
            self.stop.wait(0 if watched else 0.05)
        for descriptor in watched:
            os.close(descriptor)

    def __enter__(self) -> DeathWatch:
        if hasattr(os, "pidfd_open"):  # Linux; elsewhere the message names every unfinished fold
            self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def error(self, finished: set[int]) -> KitError:
        """The one line for a worker that died mid-fold (killed, out of memory): which fold's, and what to do."""
        self.stop.wait(0.2)  # let the watch see the death
        unfinished = sorted(fold for fold in dict(self.started) if fold not in finished)
        dead = [fold for fold in self.died if fold in unfinished][:1] or unfinished
        if len(dead) == 1:
            which = f"fold {dead[0]}'s worker died"
        elif dead:
            which = f"the worker of fold {' or '.join(map(str, dead))} died"
        else:
            which = "a worker died before its fold began"
        return KitError(f"{which} (killed, or out of memory?) — rerun to resume; finished folds are kept")


@contextmanager
def in_processes(callbacks: Callback, workers: int, train: ImageSet, test: ImageSet | None) -> Iterator[Runner]:
    """A runner that trains the folds in ``workers`` joblib processes; their epochs reach ``callbacks`` through a
    manager queue drained by a thread."""
    from multiprocessing import Manager

    from joblib import Parallel, delayed
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    deliver = _deliverer(callbacks)
    with Manager() as manager:
        queue, started = manager.Queue(), manager.dict()  # started: fold → the pid of the worker training it

        def drain() -> None:
            while (item := queue.get()) is not None:
                deliver(*item)

        def report(fold: int, epoch: int, logs: dict[str, float]) -> None:
            queue.put((fold, epoch, logs))

        def run(jobs: Iterable[FoldJob]) -> Iterator[FoldResult]:
            calls = (delayed(_train_in_worker)(job, train, test, report, started) for job in jobs)
            finished: set[int] = set()
            with DeathWatch(started) as deaths:
                try:
                    for result in Parallel(n_jobs=workers, return_as="generator_unordered")(calls):
                        finished.add(result.fold)
                        yield result
                except TerminatedWorkerError:
                    raise deaths.error(finished) from None

        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        try:
            yield run
        finally:
            queue.put(None)
            thread.join(timeout=5)


@dataclass(frozen=True)
class Placement:
    """Where the pending folds train: on Dask (a cluster, or one worker per GPU of ``gpus``), in ``jobs`` processes
    (``parallel``) or here; ``threads`` per fold (None: TensorFlow's default)."""

    jobs: int
    parallel: bool
    on_dask: bool
    gpus: list[str]
    threads: int | None


def place_folds(recipe: Recipe, pending: list[int], splits: list, jobs: int | str, cluster: str | None) -> Placement:
    """Where ``pending`` folds train for ``jobs`` (a number of folds at once or ``"auto"``, :func:`auto_jobs`)."""
    from kit.crossval._cluster import visible_gpus

    gpus = visible_gpus() if cluster is None and len(pending) > 1 and (jobs == AUTO or jobs > 1) else []
    if jobs == AUTO:
        fold_rows = len(splits[pending[0] - 1][0]) if pending else 0
        jobs = auto_jobs(len(pending), fold_rows, recipe.train.epochs, len(gpus))
    parallel = jobs > 1 and len(pending) > 1
    on_dask = bool(pending) and (cluster is not None or (parallel and len(gpus) > 1))
    # the threads per fold follow --jobs even when one fold is left: a resumed fold trains as it began (same bits)
    threads = max(1, usable_cores() // jobs) if jobs > 1 and not on_dask else None
    return Placement(jobs, parallel, on_dask, gpus, threads)


def fold_jobs(
    recipe: Recipe,
    pending: list[int],
    splits: list,
    classes: int,
    held: np.ndarray,
    pseudo: tuple[np.ndarray, np.ndarray] | None,
    identity: dict[str, Any],
    run: RunFolder,
    placement: Placement,
) -> list[FoldJob]:
    """The one place where folds become :class:`FoldJob` values; on Dask without checkpoints (workers share no
    disk with the run folder)."""
    return [
        FoldJob.of(
            recipe,
            fold,
            splits[fold - 1],
            classes,
            holdout=held,
            pseudo=pseudo,
            threads=placement.threads,
            checkpoint=None if placement.on_dask else (run.fold_dir(fold) / CHECKPOINT, {**identity, "fold": fold}),
        )
        for fold in pending
    ]


def train_pending(
    recipe: Recipe,
    pending: list[int],
    splits: list,
    data: tuple[ImageSet, ImageSet | None],
    classes: int,
    held: np.ndarray,
    pseudo: tuple[np.ndarray, np.ndarray] | None,
    identity: dict[str, Any],
    run: RunFolder,
    results: dict[int, FoldResult],
    listeners: CallbackList,
    jobs: int | str,
    cluster: str | None,
) -> None:
    """Train the pending folds of ``data`` = (train, test) here, in joblib processes or on a Dask cluster, saving
    each as it finishes; ``jobs`` is a number of folds at once or ``"auto"`` (:func:`auto_jobs`); ``pseudo`` =
    (test rows, labels) added to every fold's training rows."""
    from kit.crossval._cluster import dask_folds

    placement = place_folds(recipe, pending, splits, jobs, cluster)
    train, test = data
    if pending:
        listeners.on_phase(BUILDING_MODEL)  # TensorFlow's import and the model's build, before the first epoch
    if placement.on_dask:
        workers = min(placement.jobs, len(pending))
        strategy = dask_folds(cluster, listeners, train, test, gpus=placement.gpus, workers=workers)
    elif placement.parallel:
        strategy = in_processes(listeners, min(placement.jobs, len(pending)), train, test)
    else:
        strategy = in_process(listeners, train, test)
    with strategy as runner:
        for result in runner(fold_jobs(recipe, pending, splits, classes, held, pseudo, identity, run, placement)):
            result.record.update(identity)
            run.save_fold(result)
            shutil.rmtree(run.fold_dir(result.fold) / CHECKPOINT, ignore_errors=True)  # the fold is done
            results[result.fold] = result
            listeners.on_fold_end(fold_score(result), resumed=False)
