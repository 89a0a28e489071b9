"""The bench's full-size runs on 42,000 synthetic rows (repeated from the data; for time and memory only), each a
``kit cv`` in a child process with its own peak memory: the recipe's whole 5-fold run against the baseline recipe's
(:func:`full_size_cv`), or a one-epoch run extrapolated to the recipe's epochs (:func:`full_size_cv_estimate`)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kit.benchmark._measure import INFERENCE_ROWS
from kit.competitions import Competition
from kit.crossval import RunFolder
from kit.errors import KitError
from kit.utils import CallbackList, proc_mib

if TYPE_CHECKING:
    from kit.recipes import Recipe

FULL_TRAIN_ROWS = 42_000
CV_TARGET_SECONDS = 10 * 60  # issue 15: 0.4× the 26.4 min of the old `fast` on a 2-core AVX-512 BF16 EPYC
CV_TARGET_RSS_MIB = 2 * 1024
CV_TARGET_RATIO = 0.4  # issue 15: the full-size run in ≤ 0.4× the time the old default (`fast`) takes
BASELINE = "fast"
PHASE = "full-size 1-epoch kit cv"
RUNS_PHASE = "full-size kit cv"
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class FullSizeRun:
    """One whole ``kit cv`` of a recipe on the full-size data: its wall time, the child's peak RSS, its OOF accuracy
    (meaningless on repeated rows: it only shows the run trained)."""

    recipe: str
    epochs: int
    wall_seconds: float
    peak_rss_mib: float
    oof_accuracy: float
    jobs: str = "1"


@dataclass(frozen=True)
class FullSize:
    """The recipe's full-size run (``runs[0]``) against the baseline's (``runs[1]``), each in its own child process,
    one after the other; ``ratio`` is the recipe's wall time over the baseline's; ``folds`` are the recipe's."""

    train_rows: int
    test_rows: int
    folds: int
    runs: tuple[FullSizeRun, ...]
    ratio: float
    ratio_target: float = CV_TARGET_RATIO
    target_rss_mib: float = CV_TARGET_RSS_MIB


@dataclass(frozen=True)
class CVEstimate:
    """The full-size run: the measured one-epoch wall time, the estimate for the recipe's epochs, the peak RSS."""

    train_rows: int
    test_rows: int
    folds: int
    epochs: int
    one_epoch_wall_seconds: float
    estimated_seconds: float
    peak_rss_mib: float
    target_seconds: float = CV_TARGET_SECONDS
    target_rss_mib: float = CV_TARGET_RSS_MIB


def write_full_size_data(source: Path, competition: Competition, dest: Path) -> Path:
    """A competition folder of 42,000 train and 28,000 test rows repeated from ``source`` (for time and memory only)."""
    import pandas as pd

    dest.mkdir(parents=True, exist_ok=True)
    for name, rows in ((competition.train_file, FULL_TRAIN_ROWS), (competition.test_file, INFERENCE_ROWS)):
        if not (source / name).is_file():
            continue
        frame = pd.read_csv(source / name)
        frame = frame.iloc[np.resize(np.arange(len(frame)), rows)]
        if name == competition.test_file and competition.test_id_column:
            frame[competition.test_id_column] = np.arange(competition.first_id, competition.first_id + rows)
        frame.to_csv(dest / name, index=False)
    return dest


def write_recipe_file(recipe: Recipe, folder: Path) -> Path:
    """The recipe as trained (overrides included, ``extends`` resolved) as ``<folder>/<name>.toml``, for a child."""
    from kit.tuning import toml_text

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{recipe.name}.toml"
    path.write_text(toml_text(recipe.table()), encoding="utf-8")
    return path


def proc_value_mib(pid: int, file: str, key: str) -> float:
    """A ``kB`` line ``key`` of ``/proc/PID/<file>`` in MiB; 0 if the process or the line is gone."""
    return proc_mib(f"/proc/{pid}/{file}", key) or 0.0


def high_water_mib(pid: int) -> float:
    """The peak resident memory of process ``pid`` since it started its program (``VmHWM``), in MiB; 0 if gone.

    Not ``wait4``'s ``ru_maxrss``: Linux carries the parent's resident memory at the fork over into the child's
    (the bench process's 2.5 GiB showed up as every child's peak)."""
    return proc_value_mib(pid, "status", "VmHWM:")


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (``--jobs`` workers, their helpers), from ``/proc``."""
    found = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found += process_tree(int(child))
    except (OSError, ValueError):
        pass
    return found


def tree_memory_mib(pid: int) -> float:
    """The memory ``pid`` and its descendants hold now: the sum of their proportional set sizes (``Pss``: pages
    shared between them, such as joblib's memory-mapped data or a forked helper's, counted once), in MiB."""
    return sum(proc_value_mib(each, "smaps_rollup", "Pss:") for each in process_tree(pid))


def timed_cv(
    recipe: Recipe,
    data_dir: Path,
    competition: Competition,
    workdir: Path,
    epochs: int | None = None,
    jobs: str = "1",
):
    """(wall seconds, peak memory in MiB, its summary) of ``kit cv --jobs JOBS`` of ``recipe`` in a child process.

    The peak memory is the larger of the child's own high-water mark and the largest sum of its process tree's
    proportional set sizes seen (polled every POLL_SECONDS), so ``--jobs`` workers count with the process that
    feeds them."""
    path = write_recipe_file(recipe, workdir / "recipe")
    spec = competition.source if competition.source and Path(competition.source).is_file() else competition.name
    out = workdir / f"run-{recipe.name}"
    command = [sys.executable, "-m", "kit", "cv", str(path), "--data", str(data_dir), "--competition", spec]
    command += ["--out", str(out), "--jobs", jobs, "--force"] + (["--epochs", str(epochs)] if epochs else [])
    log = workdir / f"{recipe.name}.log"
    with log.open("w") as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        peak = 0.0
        try:
            while child.poll() is None:
                peak = max(peak, high_water_mib(child.pid), tree_memory_mib(child.pid))
                time.sleep(POLL_SECONDS)
        except BaseException:  # Ctrl-C or any error: never leave the child training on data about to be deleted
            child.kill()
            child.wait()
            raise
        wall = time.perf_counter() - started
    last = (log.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
    if child.returncode != 0:
        raise KitError(f"the full-size `kit cv {recipe.name}` failed: {last}")
    run = RunFolder(out)
    if not run.summary_path.is_file():
        raise KitError(f"the full-size `kit cv {recipe.name}` wrote no {run.summary_path.name}; its last line: {last}")
    return wall, peak, run.summary()


def full_size_cv(
    recipe: Recipe,
    data_dir: Path,
    competition: Competition,
    baseline: Recipe | None = None,
    callbacks: CallbackList | None = None,
) -> FullSize:
    """Time the recipe's whole ``kit cv`` on full-size synthetic data as kit runs it by default (``--jobs auto``),
    then the baseline's (default: ``fast``) as the issue measured it, one fold at a time (``--jobs 1``), each in a
    child process; the ratio of their wall times is the bench's full-size figure."""
    from kit.recipes import load_recipe

    listeners = callbacks or CallbackList()
    baseline = baseline or load_recipe(BASELINE)
    runs = []
    listeners.on_phase(RUNS_PHASE, 0, 2)
    with tempfile.TemporaryDirectory() as workdir:
        folder = write_full_size_data(Path(data_dir), competition, Path(workdir) / "data")
        for done, (each, jobs) in enumerate(((recipe, "auto"), (baseline, "1")), start=1):
            wall, rss, summary = timed_cv(each, folder, competition, Path(workdir), jobs=jobs)
            runs.append(
                FullSizeRun(each.name, each.train.epochs, round(wall, 1), round(rss, 1), summary.oof_accuracy, jobs)
            )
            listeners.on_phase(RUNS_PHASE, done, 2)
    return FullSize(
        train_rows=FULL_TRAIN_ROWS,
        test_rows=INFERENCE_ROWS,
        folds=recipe.cv.folds,
        runs=tuple(runs),
        ratio=round(runs[0].wall_seconds / runs[1].wall_seconds, 3),
    )


def full_size_cv_estimate(
    recipe: Recipe, data_dir: Path, competition: Competition, images_per_s: float, callbacks: CallbackList | None = None
) -> CVEstimate:
    """Time one epoch of `kit cv` on full-size synthetic data in a child process; extrapolate to the recipe's epochs.

    The estimate adds, per fold, ``epochs - 1`` epochs at ``images_per_s`` (kit's steady training rate, validation
    included) to the measured one-epoch run; memory is the child's measured peak RSS, which more epochs do not raise.
    """
    listeners = callbacks or CallbackList()
    folds = recipe.cv.folds
    listeners.on_phase(PHASE, 0, 1)
    with tempfile.TemporaryDirectory() as workdir:
        folder = write_full_size_data(Path(data_dir), competition, Path(workdir) / "data")
        wall, rss, _ = timed_cv(recipe, folder, competition, Path(workdir), epochs=1)
    listeners.on_phase(PHASE, 1, 1)
    fold_rows = FULL_TRAIN_ROWS * (folds - 1) / folds
    return CVEstimate(
        train_rows=FULL_TRAIN_ROWS,
        test_rows=INFERENCE_ROWS,
        folds=folds,
        epochs=recipe.train.epochs,
        one_epoch_wall_seconds=round(wall, 1),
        estimated_seconds=round(wall + folds * (recipe.train.epochs - 1) * fold_rows / images_per_s, 1),
        peak_rss_mib=round(rss, 1),
    )
