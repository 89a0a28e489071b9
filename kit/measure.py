"""What the bench measures and on what: its 80/20 split of the data (:class:`BenchData`), one pipeline's measurements
(:class:`Contender`), and the small meters — steady training rate, inference rate, peak memory, the machine."""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kit.competitions import Competition
from kit.errors import KitError

VALIDATION_SHARE = 0.2
INFERENCE_ROWS = 28_000


@dataclass(frozen=True)
class BenchData:
    """The bench's stratified 80/20 split, and the images inference is timed on."""

    fit_images: np.ndarray
    fit_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    inference_images: np.ndarray
    source: str
    replicated: bool


@dataclass(frozen=True)
class Contender:
    """One training pipeline's measurements; ``curve`` holds (seconds since start, val accuracy) at each epoch end,
    ``matched_at`` the seconds it took to reach the notebook pipeline's final accuracy (None: never or not compared)."""

    name: str
    val_accuracy: float
    wall_seconds: float
    train_images_per_s: float
    inference_images_per_s: float
    peak_rss_mib: float
    curve: tuple[tuple[float, float], ...] = ()
    matched_at: float | None = None

    def time_to(self, accuracy: float) -> float | None:
        """Seconds until the first epoch that reached ``accuracy``, or None if none did."""
        return next((seconds for seconds, reached in self.curve if reached >= accuracy), None)


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory of this process (or of its largest finished child), in MiB."""
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX-512 BF16 or AMX), per /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def machine() -> str:
    """The CPU (or GPU), core count and TensorFlow version, in words."""
    from kit.runtime import import_tensorflow

    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    words = f"{os.cpu_count()}-core {cpu}" + (" with AVX-512 BF16" if cpu_has_bf16() else "")
    if gpus:
        words += f", {len(gpus)} GPU(s) {tf.config.experimental.get_device_details(gpus[0]).get('device_name', '')}"
    return f"{words}, TensorFlow {tf.__version__}"


def bench_data(data_dir: Path, competition: Competition, size: int | None, seed: int = 0) -> BenchData:
    """The notebook's split (stratified 80/20, ``random_state`` 0) of ``size`` rows of train.csv.

    Fewer rows than the file has are a stratified sample; more repeat the rows of each side of the split (so the
    validation rows never appear in training), which measures speed at full size but not accuracy.
    """
    from sklearn.model_selection import train_test_split

    from kit.data import load_test, load_train

    train = load_train(data_dir, competition)
    size = size or len(train)
    smallest = 10 * competition.classes
    if size < smallest:
        raise KitError(f"size={size}: the bench needs at least {smallest} rows ({competition.classes} classes)")
    rows = np.arange(len(train))
    if size < len(train):
        rows = train_test_split(rows, train_size=size, stratify=train.labels, random_state=seed)[0]
    fit, val = train_test_split(rows, test_size=VALIDATION_SHARE, stratify=train.labels[rows], random_state=seed)
    if size > len(train):
        val_rows = round(size * VALIDATION_SHARE)
        fit, val = np.resize(fit, size - val_rows), np.resize(val, val_rows)
    has_test = (Path(data_dir) / competition.test_file).is_file()
    pool = load_test(data_dir, competition).images if has_test else train.images[val]
    return BenchData(
        fit_images=train.images[fit],
        fit_labels=train.labels[fit],
        val_images=train.images[val],
        val_labels=train.labels[val],
        inference_images=np.resize(pool, (INFERENCE_ROWS, *pool.shape[1:])),
        source=str(data_dir),
        replicated=size > len(train),
    )


def steady_throughput(rows: int, curve: list[tuple[float, float]] | tuple[tuple[float, float], ...]) -> float:
    """Training images/s (validation passes included) over the epochs after the first, which also builds the graph."""
    if len(curve) < 2:
        return rows / curve[-1][0]
    return rows * (len(curve) - 1) / (curve[-1][0] - curve[0][0])


def inference_rate(predict: Callable[[np.ndarray], Any], images: np.ndarray) -> float:
    """Images/s of ``predict`` on ``images``, after a small warm-up call."""
    predict(images[:256])
    started = time.perf_counter()
    predict(images)
    return len(images) / (time.perf_counter() - started)
