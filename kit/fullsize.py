"""The bench's full-size estimate: a one-epoch 5-fold ``kit cv`` on 42,000 synthetic rows (repeated from the data)
timed in a child process, extrapolated to the recipe's epochs, with the child's peak memory."""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kit.callbacks import CallbackList
from kit.competitions import Competition
from kit.errors import KitError
from kit.measure import INFERENCE_ROWS, peak_rss_mib

if TYPE_CHECKING:
    from kit.recipes import Recipe

FULL_TRAIN_ROWS = 42_000
CV_TARGET_SECONDS = 10 * 60  # issue 15: 0.4× the 26.4 min of the old `fast` on a 2-core AVX-512 BF16 EPYC
CV_TARGET_RSS_MIB = 2 * 1024
PHASE = "full-size 1-epoch kit cv"


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
    from kit.tunedfile import toml_text

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{recipe.name}.toml"
    path.write_text(toml_text(recipe.table()), encoding="utf-8")
    return path


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
        path = write_recipe_file(recipe, Path(workdir) / "recipe")
        spec = competition.source if competition.source and Path(competition.source).is_file() else competition.name
        command = [sys.executable, "-m", "kit", "cv", str(path), "--data", str(folder), "--competition", spec]
        command += ["--out", str(Path(workdir) / "run"), "--epochs", "1", "--jobs", "1"]
        started = time.perf_counter()
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise KitError(f"the full-size 1-epoch `kit cv {recipe.name}` failed: {last}")
    listeners.on_phase(PHASE, 1, 1)
    fold_rows = FULL_TRAIN_ROWS * (folds - 1) / folds
    return CVEstimate(
        train_rows=FULL_TRAIN_ROWS,
        test_rows=INFERENCE_ROWS,
        folds=folds,
        epochs=recipe.train.epochs,
        one_epoch_wall_seconds=round(wall, 1),
        estimated_seconds=round(wall + folds * (recipe.train.epochs - 1) * fold_rows / images_per_s, 1),
        peak_rss_mib=round(peak_rss_mib(resource.RUSAGE_CHILDREN), 1),
    )
