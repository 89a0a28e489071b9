"""The benchmark behind `make bench`: kit's fast recipe against the notebook's own pipeline on the same 80/20 split.

It measures validation accuracy, wall time, training and inference images/s and peak memory of both, the time kit
needs to match the notebook's final accuracy, what each speed option (reduced precision, XLA, input caching) is worth,
and, optionally, a full-size 5-fold ``kit cv`` estimated from a one-epoch run on synthetic 42,000-row data.
Run it as ``kit bench`` or ``python -m kit.benchmark --size N``.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress
from rich.table import Table

from kit.competitions import DEFAULT_COMPETITION, Competition, get_competition
from kit.data import ImageSet, load_test, load_train, resolve_data_dir
from kit.errors import KitError
from kit.recipes import Recipe, load_recipe

NOTEBOOK_EPOCHS = 30
NOTEBOOK_BATCH = 128
VALIDATION_SHARE = 0.2
INFERENCE_ROWS = 28_000
FULL_TRAIN_ROWS = 42_000
PROBE_BATCHES = 40
CV_TARGET_SECONDS = 45 * 60
CV_TARGET_RSS_MIB = 4 * 1024
RATIO_TARGET = 1 / 3

Report = Callable[[str, int, int], None]


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


@dataclass
class Contender:
    """One training pipeline's measurements; ``curve`` holds (seconds since start, val accuracy) at each epoch end."""

    name: str
    val_accuracy: float
    wall_seconds: float
    train_images_per_s: float
    inference_images_per_s: float
    peak_rss_mib: float
    curve: list[tuple[float, float]] = field(default_factory=list)
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
    import tensorflow as tf

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

    train = load_train(data_dir, competition)
    size = size or len(train)
    smallest = 10 * competition.classes
    if size < smallest:
        raise KitError(f"--size {size}: the bench needs at least {smallest} rows ({competition.classes} classes)")
    rows = np.arange(len(train))
    if size < len(train):
        rows = train_test_split(rows, train_size=size, stratify=train.labels, random_state=seed)[0]
    fit, val = train_test_split(rows, test_size=VALIDATION_SHARE, stratify=train.labels[rows], random_state=seed)
    if size > len(train):
        val_rows = round(size * VALIDATION_SHARE)
        fit, val = np.resize(fit, size - val_rows), np.resize(val, val_rows)
    has_test = (data_dir / competition.test_file).is_file()
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


def steady_throughput(rows: int, curve: list[tuple[float, float]]) -> float:
    """Training images/s (validation passes included) over the epochs after the first, which also builds the graph."""
    if len(curve) < 2:
        return rows / curve[-1][0]
    return rows * (len(curve) - 1) / (curve[-1][0] - curve[0][0])


def _inference_rate(predict: Callable[[np.ndarray], Any], images: np.ndarray) -> float:
    """Images/s of ``predict`` on ``images``, after a small warm-up call."""
    predict(images[:256])
    started = time.perf_counter()
    predict(images)
    return len(images) / (time.perf_counter() - started)


def notebook_pipeline(
    data: BenchData, classes: int, epochs: int = NOTEBOOK_EPOCHS, report: Report | None = None
) -> Contender:
    """The notebook's final CNN in its own Keras 2 API (tf-keras): ImageDataGenerator.flow, ReduceLROnPlateau, adam."""
    try:
        import tf_keras
        from tf_keras import layers
        from tf_keras.preprocessing.image import ImageDataGenerator
    except ImportError:
        raise KitError("the bench needs tf-keras for the notebook's ImageDataGenerator: pip install -e '.[bench]'") from None

    tf_keras.utils.set_random_seed(0)
    fit_x, val_x = data.fit_images.astype(np.float32) / 255.0, data.val_images.astype(np.float32) / 255.0
    fit_y, val_y = (tf_keras.utils.to_categorical(labels, classes) for labels in (data.fit_labels, data.val_labels))
    started = time.perf_counter()
    model = tf_keras.Sequential(
        [
            layers.Conv2D(32, (3, 3), activation="relu", padding="same", input_shape=fit_x.shape[1:]),
            layers.Conv2D(32, (3, 3), activation="relu", padding="same"),
            layers.MaxPool2D(strides=2),
            layers.Dropout(0.5),
            layers.Conv2D(64, (3, 3), activation="relu", padding="same"),
            layers.Conv2D(64, (3, 3), activation="relu", padding="same"),
            layers.MaxPool2D(strides=2, padding="same"),
            layers.Dropout(0.4),
            layers.Conv2D(128, (3, 3), activation="relu", padding="same"),
            layers.Conv2D(128, (3, 3), activation="relu", padding="same"),
            layers.MaxPool2D(strides=2, padding="same"),
            layers.Dropout(0.2),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.1),
            layers.Dense(classes, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    datagen = ImageDataGenerator(rotation_range=10, zoom_range=0.1, width_shift_range=0.1, height_shift_range=0.1)
    datagen.fit(fit_x)
    curve: list[tuple[float, float]] = []

    def stamp(epoch: int, logs: dict[str, float]) -> None:
        curve.append((time.perf_counter() - started, float(logs["val_accuracy"])))
        if report:
            report("notebook pipeline", epoch + 1, epochs)

    model.fit(
        datagen.flow(fit_x, fit_y, batch_size=NOTEBOOK_BATCH),
        epochs=epochs,
        callbacks=[
            tf_keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", patience=3),
            tf_keras.callbacks.LambdaCallback(on_epoch_end=stamp),
        ],
        validation_data=(val_x, val_y),
        verbose=0,
    )
    return Contender(
        name="notebook pipeline",
        val_accuracy=curve[-1][1],
        wall_seconds=curve[-1][0],
        train_images_per_s=steady_throughput(len(fit_x), curve),
        inference_images_per_s=_inference_rate(
            lambda images: model.predict(images.astype(np.float32) / 255.0, verbose=0), data.inference_images
        ),
        peak_rss_mib=peak_rss_mib(),
        curve=curve,
    )


def kit_pipeline(recipe: Recipe, data: BenchData, classes: int, name: str, report: Report | None = None) -> Contender:
    """The recipe trained as one `kit cv` fold is (:func:`kit.crossval.train_fold`) on the bench split, then reloaded."""
    import keras

    from kit.crossval import train_fold
    from kit.pipeline import evaluation_dataset

    images = np.concatenate([data.fit_images, data.val_images])
    labels = np.concatenate([data.fit_labels, data.val_labels])
    rows = (np.arange(len(data.fit_images)), np.arange(len(data.fit_images), len(images)))
    curve: list[tuple[float, float]] = []
    started = time.perf_counter()

    def stamp(fold: int, epoch: int, logs: dict[str, float]) -> None:
        curve.append((time.perf_counter() - started, float(logs["val_accuracy"])))
        if report:
            report(name, epoch, recipe.train.epochs)

    result = train_fold(recipe, 1, rows, ImageSet(images, labels, np.arange(len(images))), None, classes, stamp)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(result.model_bytes)
        model = keras.saving.load_model(path)
    batch = recipe.train.batch_size
    return Contender(
        name=name,
        val_accuracy=result.record["val_accuracy"],
        wall_seconds=curve[-1][0],
        train_images_per_s=steady_throughput(len(data.fit_images), curve),
        inference_images_per_s=_inference_rate(
            lambda part: model.predict(evaluation_dataset(part, None, classes, batch), verbose=0), data.inference_images
        ),
        peak_rss_mib=peak_rss_mib(),
        curve=curve,
    )


def fast_precision(recipe: Recipe) -> str | None:
    """The precision to compare the recipe's with: float32 if it uses a mixed one, else the hardware's fast one."""
    import tensorflow as tf

    if recipe.train.precision != "float32":
        return "float32"
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bf16() else None


def option_throughputs(recipe: Recipe, data: BenchData, classes: int, batches: int = PROBE_BATCHES) -> dict[str, float]:
    """Training images/s of the recipe's model per speed option, and of the input pipeline alone.

    Runs before any kit fold: kit trains with TensorFlow op determinism on, under which Keras never compiles with XLA.
    """
    from kit.models import build_model
    from kit.pipeline import training_dataset

    batch = recipe.train.batch_size

    def batches_of_data():
        dataset = training_dataset(data.fit_images, data.fit_labels, classes, batch, recipe.augment, recipe.cv.seed)
        return dataset.repeat().take(batches)

    def images_per_s(run: Callable[[], Any]) -> float:
        started = time.perf_counter()
        run()
        return batches * batch / (time.perf_counter() - started)

    options = {"float32": {"train.precision": "float32", "train.jit_compile": False}}
    alternative = fast_precision(recipe.with_overrides({"train.precision": "float32"}))
    if alternative:
        options[alternative] = {"train.precision": alternative, "train.jit_compile": False}
    options["float32 + XLA"] = {"train.precision": "float32", "train.jit_compile": True}
    rates = {}
    for label, overrides in options.items():
        model = build_model(recipe.with_overrides(overrides), data.fit_images.shape[1:], classes, len(data.fit_images))
        model.fit(batches_of_data().take(3), shuffle=False, verbose=0)
        rates[label] = images_per_s(lambda: model.fit(batches_of_data(), shuffle=False, verbose=0))
    rates["input pipeline alone"] = images_per_s(lambda: sum(1 for _ in batches_of_data()))
    return rates


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


def full_size_cv_estimate(
    reference: str,
    recipe: Recipe,
    data_dir: Path,
    competition: Competition,
    images_per_s: float,
    report: Report | None = None,
) -> dict[str, Any]:
    """Time one epoch of `kit cv` on full-size synthetic data in a child process; extrapolate to the recipe's epochs.

    The estimate adds, per fold, ``epochs - 1`` epochs at ``images_per_s`` (kit's steady training rate, validation
    included) to the measured one-epoch run; memory is the child's measured peak RSS, which more epochs do not raise.
    """
    folds = recipe.cv.folds
    if report:
        report("full-size 1-epoch kit cv", 0, 1)
    with tempfile.TemporaryDirectory() as workdir:
        folder = write_full_size_data(data_dir, competition, Path(workdir) / "data")
        command = [sys.executable, "-m", "kit", "cv", reference, "--data", str(folder), "--competition", competition.name]
        command += ["--out", str(Path(workdir) / "run"), "--epochs", "1", "--jobs", "1"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise KitError(f"the full-size 1-epoch `kit cv {reference}` failed: {done.stderr.strip().splitlines()[-1:]}")
    if report:
        report("full-size 1-epoch kit cv", 1, 1)
    fold_rows = FULL_TRAIN_ROWS * (folds - 1) / folds
    estimate = wall + folds * (recipe.train.epochs - 1) * fold_rows / images_per_s
    return {
        "train_rows": FULL_TRAIN_ROWS,
        "test_rows": INFERENCE_ROWS,
        "folds": folds,
        "epochs": recipe.train.epochs,
        "one_epoch_wall_seconds": round(wall, 1),
        "estimated_seconds": round(estimate, 1),
        "peak_rss_mib": round(peak_rss_mib(resource.RUSAGE_CHILDREN), 1),
        "target_seconds": CV_TARGET_SECONDS,
        "target_rss_mib": CV_TARGET_RSS_MIB,
    }


def _verdict(on: Contender, off: Contender, target: float, tolerance: float) -> str:
    """Whether a setting (``on``) pays against its absence (``off``): faster to the target and no less accurate."""
    def pace(contender: Contender) -> tuple[bool, float]:
        reached = contender.time_to(target)
        return reached is None, contender.wall_seconds if reached is None else reached

    faster = pace(on) < pace(off)
    if on.val_accuracy < off.val_accuracy - tolerance:
        return "drop: costs accuracy"
    return "keep: faster, same accuracy" if faster else "drop: not faster"


def run_bench(
    recipe: str = "fast",
    data_dir: Path | str | None = None,
    size: int | None = None,
    competition: Competition | str = DEFAULT_COMPETITION,
    notebook_epochs: int = NOTEBOOK_EPOCHS,
    options: bool = True,
    cv_estimate: bool = False,
    out: Path | str | None = "bench.json",
    report: Report | None = None,
) -> dict[str, Any]:
    """Race the recipe against the notebook pipeline; write the results to ``out`` (JSON) and return them."""
    from kit.rundir import write_json

    if isinstance(competition, str):
        competition = get_competition(competition)
    if notebook_epochs < 1:
        raise KitError(f"--notebook-epochs must be at least 1, got {notebook_epochs}")
    loaded = load_recipe(recipe)
    data_dir = resolve_data_dir(data_dir, competition)
    load_before = os.getloadavg()[0]
    data = bench_data(data_dir, competition, size)
    classes = competition.classes
    notebook = notebook_pipeline(data, classes, notebook_epochs, report)
    throughputs = option_throughputs(loaded, data, classes) if options else {}
    contenders = [notebook, kit_pipeline(loaded, data, classes, f"kit {loaded.name}", report)]
    alternative = fast_precision(loaded) if options else None
    if alternative:
        flipped = loaded.with_overrides({"train.precision": alternative})
        contenders.append(kit_pipeline(flipped, data, classes, f"kit {loaded.name} · {alternative}", report))
    for contender in contenders[1:]:
        contender.matched_at = contender.time_to(notebook.val_accuracy)
    kit = contenders[1]
    result: dict[str, Any] = {
        "machine": machine(),
        "load_average": [load_before, os.getloadavg()[0]],
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe": loaded.name,
        "recipe_hash": loaded.content_hash,
        "data": {
            "source": data.source,
            "train_rows": len(data.fit_images),
            "validation_rows": len(data.val_images),
            "inference_rows": len(data.inference_images),
            "replicated": data.replicated,
        },
        "contenders": [asdict(contender) for contender in contenders],
        "time_to_notebook_accuracy_ratio": None if kit.matched_at is None else kit.matched_at / notebook.wall_seconds,
        "ratio_target": RATIO_TARGET,
        "option_images_per_s": throughputs,
        "verdicts": {},
    }
    if alternative:
        precise, fast = (contenders[1], contenders[2]) if alternative != "float32" else (contenders[2], contenders[1])
        tolerance = max(0.001, 1 / len(data.val_images))
        label = alternative if alternative != "float32" else loaded.train.precision
        result["verdicts"][label] = _verdict(fast, precise, notebook.val_accuracy, tolerance)
    if cv_estimate:
        result["cv_estimate"] = full_size_cv_estimate(recipe, loaded, data_dir, competition, kit.train_images_per_s, report)
        result["load_average"].append(os.getloadavg()[0])
    if out:
        write_json(Path(out), result)
    return result


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f}"


def bench_table(result: dict[str, Any]) -> Table:
    """The contenders side by side as a rich table."""
    data = result["data"]
    title = f"time to accuracy on {data['train_rows']:,} + {data['validation_rows']:,} images" + (
        " (rows repeated: speed only)" if data["replicated"] else ""
    )
    table = Table(title=title, caption=result["machine"])
    columns = ("pipeline", "val accuracy", "train wall s", "train img/s", "to notebook acc s", "infer img/s", "peak RSS MiB")
    for column in columns:
        table.add_column(column, justify="left" if column == "pipeline" else "right")
    for contender in result["contenders"]:
        matched = "—" if contender["name"] == "notebook pipeline" else _seconds(contender["matched_at"])
        table.add_row(
            contender["name"],
            f"{contender['val_accuracy']:.4f}",
            f"{contender['wall_seconds']:.1f}",
            f"{contender['train_images_per_s']:,.0f}",
            matched,
            f"{contender['inference_images_per_s']:,.0f}",
            f"{contender['peak_rss_mib']:,.0f}",
        )
    return table


def bench_notes(result: dict[str, Any]) -> list[str]:
    """The headline ratio, the options' worth and the full-size CV estimate, one line each."""
    ratio = result["time_to_notebook_accuracy_ratio"]
    target = result["ratio_target"]
    lines = [
        "kit never reached the notebook's accuracy"
        if ratio is None
        else f"kit matched the notebook's accuracy in {ratio:.2f} of its wall time (target ≤ {target:.2f}: "
        + ("met)" if ratio <= target else "missed)")
    ]
    busiest, cores = max(result["load_average"]), os.cpu_count() or 1
    if busiest > cores:
        lines.append(f"the machine was busy (load average {busiest:.1f} on {cores} cores): all times are pessimistic")
    rates = result["option_images_per_s"]
    if rates:
        shown = ", ".join(f"{label} {rate:,.0f}" for label, rate in rates.items())
        lines.append(f"training img/s by option: {shown}")
        model_share = rates["float32"] / rates["input pipeline alone"]
        lines.append(
            f"input pipeline alone is {model_share:.0%} of float32 training's cost: caching it could save at most that "
            "(augmentation is random per epoch, so only the decoded uint8 images could be cached; they already are)"
        )
        lines.append("XLA (train.jit_compile): Keras never compiles with XLA in `kit cv`, which trains with op determinism")
    lines += [f"{label}: {verdict}" for label, verdict in result["verdicts"].items()]
    estimate = result.get("cv_estimate")
    if estimate:
        minutes, limit = estimate["estimated_seconds"] / 60, estimate["target_seconds"] / 60
        run = f"{estimate['folds']}-fold `kit cv {result['recipe']}` on {estimate['train_rows']:,} rows"
        lines.append(
            f"ESTIMATE, {run} × {estimate['epochs']} epochs: {minutes:.0f} min (target ≤ {limit:.0f}; "
            f"measured 1-epoch run {estimate['one_epoch_wall_seconds'] / 60:.1f} min), peak RSS "
            f"{estimate['peak_rss_mib'] / 1024:.2f} GiB measured (target ≤ {estimate['target_rss_mib'] / 1024:.0f})"
        )
    return lines


class PhaseProgress:
    """A rich progress bar per bench phase, fed by the ``report(phase, done, total)`` calls of :func:`run_bench`."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total, status="")
        self.progress.update(self.tasks[phase], completed=done)


if __name__ == "__main__":
    from kit.cli import main

    sys.argv[1:1] = ["bench"]
    main()
