"""The benchmark behind `make bench`: :func:`run_bench` races a kit recipe against the notebook's own pipeline on the
same K-fold splits (those of ``kit cv``), over several seeds, and returns a :class:`BenchResult` (also written to
``bench.json``, with ``bench.png`` drawn beside it).

Accuracy is the out-of-fold accuracy pooled over every held-out row (1,500 predictions on the demo data), per epoch,
against the mean seconds a fold has trained; each pipeline's figures are the medians over the seeds, with their spread.
It measures that, training and inference images/s and peak memory of both, the time kit needs to match the notebook's
final accuracy, the worth of each speed option (reduced precision, XLA, determinism, input caching), the start-up time
of ``kit cv --help`` and, as asked, full-size ``kit cv`` runs (``_fullsize``), image files (``_images``) and backbones
(``_backbones``). Progress reaches the caller only through kit's callbacks: ``on_run_begin("bench", phases)``, then
``on_phase(name, done, total)``, then ``on_run_end()``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kit.benchmark._backbones import run_backbone_bench
from kit.benchmark._fullsize import full_size_cv, full_size_cv_estimate
from kit.benchmark._images import run_image_bench
from kit.benchmark._measure import BenchData, Contender, bench_data, fold_data, machine
from kit.benchmark._notebook import NAME as NOTEBOOK
from kit.benchmark._notebook import NOTEBOOK_EPOCHS, notebook_pipeline
from kit.benchmark._race import kit_pipeline, race
from kit.benchmark._result import (
    BENCH_FILE,
    DEFAULT_RECIPE,
    DETERMINISTIC,
    FOLDS,
    OPTIONS,
    PLOT_FILE,
    PROBE_BATCHES,
    SEEDS,
    STARTUP,
    STARTUP_RUNS,
    BenchResult,
    BenchRows,
    StartupTime,
)
from kit.competitions import Competition, as_competition
from kit.errors import KitError
from kit.utils import Callback, CallbackList, as_callback_list, cpu_has_bf16, resolve_precision

if TYPE_CHECKING:
    from kit.recipes import Recipe


def measure_startup(runs: int = STARTUP_RUNS, callbacks: CallbackList | None = None) -> StartupTime:
    """Time ``kit cv --help`` ``runs`` times in fresh processes (the console script beside this Python, else
    ``python -m kit``); the median is what a user waits before kit answers."""
    listeners = callbacks or CallbackList()
    script = Path(sys.executable).with_name("kit")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "kit"]
    command += ["cv", "--help"]
    seconds = []
    listeners.on_phase(STARTUP, 0, runs)
    for run in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, check=False, capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"})
        seconds.append(round(time.perf_counter() - started, 3))
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise KitError(f"`{' '.join(command)}` failed with exit code {done.returncode}: {last}")
        listeners.on_phase(STARTUP, run + 1, runs)
    return StartupTime(" ".join(command), tuple(seconds), round(statistics.median(seconds), 3))


def fast_precision(recipe: Recipe) -> str | None:
    """The precision to compare the recipe's with: float32 if it uses a mixed one, else the hardware's fast one."""
    from kit.utils import import_tensorflow

    if resolve_precision(recipe.train.precision) != "float32":
        return "float32"
    if import_tensorflow().config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bf16() else None


def speed_options(recipe: Recipe) -> dict[str, dict[str, Any]]:
    """The option sweep: overrides by label — float32, the hardware's fast precision if any, float32 with XLA."""
    options = {"float32": {"train.precision": "float32", "train.jit_compile": False}}
    alternative = fast_precision(recipe.with_overrides({"train.precision": "float32"}))
    if alternative:
        options[alternative] = {"train.precision": alternative, "train.jit_compile": False}
        options[f"{alternative} + XLA"] = {"train.precision": alternative, "train.jit_compile": True}
    options["float32 + XLA"] = {"train.precision": "float32", "train.jit_compile": True}
    return options


def option_throughputs(
    recipe: Recipe, data: BenchData, classes: int, batches: int = PROBE_BATCHES, callbacks: CallbackList | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """(training images/s, seconds of the first 3-batch fit: graph tracing or XLA compilation) of the recipe's model
    per speed option with op determinism off, then of float32 with it on (as `kit cv` trains unless the recipe sets
    ``train.deterministic = false``), and the images/s of the input pipeline alone."""
    from kit.engine import build_model, training_dataset
    from kit.utils import prepare_tensorflow

    listeners = callbacks or CallbackList()
    batch = recipe.train.batch_size

    def batches_of_data():
        dataset, _ = training_dataset(data.fit_images, data.fit_labels, classes, batch, recipe.augment, recipe.cv.seed)
        return dataset.repeat().take(batches)

    def seconds(run: Callable[[], Any]) -> float:
        started = time.perf_counter()
        run()
        return time.perf_counter() - started

    options = {label: (overrides, False) for label, overrides in speed_options(recipe).items()}
    options[DETERMINISTIC] = (speed_options(recipe)["float32"], True)
    rates, warmups = {}, {}
    listeners.on_phase(OPTIONS, 0, len(options) + 1)
    for done, (label, (overrides, deterministic)) in enumerate(options.items(), start=1):
        prepare_tensorflow(None, deterministic=deterministic)
        model = build_model(recipe.with_overrides(overrides), data.fit_images.shape[1:], classes, len(data.fit_images))
        warmups[label] = round(seconds(lambda m=model: m.fit(batches_of_data().take(3), shuffle=False, verbose=0)), 2)
        spent = seconds(lambda m=model: m.fit(batches_of_data(), shuffle=False, verbose=0))
        rates[label] = round(batches * batch / spent, 1)
        listeners.on_phase(OPTIONS, done, len(options) + 1)
    rates["input pipeline alone"] = round(batches * batch / seconds(lambda: sum(1 for _ in batches_of_data())), 1)
    listeners.on_phase(OPTIONS, len(options) + 1, len(options) + 1)
    return rates, warmups


def verdict(on: Contender, off: Contender, target: float, tolerance: float) -> str:
    """Whether a setting (``on``) pays against its absence (``off``): faster to the target and no less accurate."""

    def pace(contender: Contender) -> tuple[bool, float]:
        reached = contender.time_to(target)
        return reached is None, contender.wall_seconds if reached is None else reached

    if on.val_accuracy < off.val_accuracy - tolerance:
        return "drop: costs accuracy"
    return "keep: faster, same accuracy" if pace(on) < pace(off) else "drop: not faster"


def _check_arguments(out: Path | str | None, notebook_epochs: int, seeds: int, folds: int) -> None:
    if out is not None and Path(out).is_file():
        raise KitError(f"{out} is a file; give the folder to write {BENCH_FILE} into", argument="out")
    if notebook_epochs < 1:
        raise KitError.invalid("notebook_epochs", "at least 1 (epochs of the notebook pipeline)", notebook_epochs)
    if seeds < 1:
        raise KitError.invalid("seeds", "at least 1", seeds)
    if folds < 2:
        raise KitError.invalid("folds", "at least 2", folds)


def _race_notebook(
    epochs: int,
    seed_list: tuple[int, ...],
    splits: Callable[[int], list[BenchData]],
    classes: int,
    listeners: CallbackList,
) -> Contender:
    """The seed notebook's pipeline trained ``epochs`` epochs on every split of every seed."""
    quiet = CallbackList()

    def notebook_fold(part: BenchData, seed: int, fold: int, infer: bool) -> tuple[Contender, None]:
        return notebook_pipeline(part, classes, epochs, quiet, seed * 1000 + fold, infer), None

    return race(NOTEBOOK, seed_list, splits, notebook_fold, listeners)


def _race_recipe(
    loaded: Recipe,
    alternative: str | None,
    notebook: Contender,
    seed_list: tuple[int, ...],
    splits: Callable[[int], list[BenchData]],
    classes: int,
    listeners: CallbackList,
) -> list[Contender]:
    """The notebook's result, then the recipe's (and the recipe's in its ``alternative`` precision), each timed to the
    notebook's final accuracy."""
    quiet = CallbackList()
    kit_name = f"kit {loaded.name}"

    def kit_fold(name: str, trained: Recipe) -> Callable[[BenchData, int, int, bool], tuple[Contender, bytes]]:
        def train(part: BenchData, seed: int, fold: int, infer: bool) -> tuple[Contender, bytes]:
            seeded = trained.with_overrides({"cv.seed": seed})
            return kit_pipeline(seeded, part, classes, name, quiet, fold, infer)

        return train

    contenders = [race(kit_name, seed_list, splits, kit_fold(kit_name, loaded), listeners, ensemble=True)]
    if alternative:
        flipped = loaded.with_overrides({"train.precision": alternative})
        name = f"{kit_name} · {alternative}"
        contenders.append(race(name, seed_list, splits, kit_fold(name, flipped), listeners, ensemble=True))
    return [notebook] + [replace(each, matched_at=each.time_to(notebook.val_accuracy)) for each in contenders]


def _precision_verdicts(
    loaded: Recipe, alternative: str | None, contenders: list[Contender], notebook: Contender
) -> dict[str, str]:
    """Whether the faster precision reaches the notebook's accuracy as the precise one does."""
    if not alternative:
        return {}
    precise, fast = (contenders[1], contenders[2]) if alternative != "float32" else (contenders[2], contenders[1])
    tolerance = max(0.001, 1 / notebook.seeds[0].predictions)
    label = alternative if alternative != "float32" else resolve_precision(loaded.train.precision)
    return {label: verdict(fast, precise, notebook.val_accuracy, tolerance)}


def _later_phases(
    loaded: Recipe,
    data_dir: Path,
    competition: Competition,
    kit: Contender,
    asked: Mapping[str, bool],
    listeners: CallbackList,
    load_average: list[float],
) -> dict[str, Any]:
    """The phases after the race, by :class:`BenchResult` field, those not ``asked`` None: the full-size estimate
    from a one-epoch run and the full-size runs themselves (each appends the load average after it), the image-file
    phase and the backbone phase."""
    done: dict[str, Any] = dict.fromkeys(asked)
    if asked["cv_estimate"]:
        done["cv_estimate"] = full_size_cv_estimate(loaded, data_dir, competition, kit.train_images_per_s, listeners)
        load_average.append(os.getloadavg()[0])
    if asked["full_size"]:
        done["full_size"] = full_size_cv(loaded, data_dir, competition, callbacks=listeners)
        load_average.append(os.getloadavg()[0])
    if asked["images"]:
        done["images"] = run_image_bench(callbacks=listeners)
    if asked["backbones"]:
        done["backbones"] = run_backbone_bench(callbacks=listeners)
    return done


def _ratios(notebook: Contender, kit: Contender) -> tuple[float | None, float | None]:
    """The recipe's time to the notebook's final accuracy, as a share of the notebook's full time and of the time the
    notebook itself first reached it."""
    if kit.matched_at is None:
        return None, None
    first_reach = notebook.time_to(notebook.val_accuracy)
    return kit.matched_at / notebook.wall_seconds, kit.matched_at / first_reach if first_reach else None


def _rows(split: BenchData, part: BenchData) -> BenchRows:
    """Where the bench's rows came from and how many each part of a split had."""
    return BenchRows(
        str(split.source), len(part.fit_images), len(part.val_images), len(split.inference_images), part.replicated
    )


def _save(result: BenchResult, out: Path | str | None, plot: bool) -> BenchResult:
    """``bench.json`` (and with ``plot`` ``bench.png``) in ``out``; nothing where ``out`` is None."""
    if out is None:
        return result
    from kit.benchmark._plot import draw_curves
    from kit.utils import write_json

    result = replace(result, path=Path(out) / BENCH_FILE)
    write_json(result.path, result.to_json())
    if plot:
        draw_curves(result, Path(out) / PLOT_FILE)
    return result


def run_bench(
    recipe: str | Path | Recipe = DEFAULT_RECIPE,
    data: Path | str | None = None,
    *,
    size: int | None = None,
    competition: Competition | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    notebook_epochs: int = NOTEBOOK_EPOCHS,
    seeds: int = SEEDS,
    folds: int = FOLDS,
    options: bool = True,
    startup: bool = True,
    cv_estimate: bool = False,
    full_size: bool = False,
    images: bool = False,
    backbones: bool = False,
    out: Path | str | None = ".",
    plot: bool = True,
    callbacks: Iterable[Callback] | Callback | None = (),
) -> BenchResult:
    """Race ``recipe`` (a name, path or :class:`~kit.recipes._load.Recipe`, changed by ``overrides``: dotted keys)
    against the notebook pipeline trained ``notebook_epochs`` epochs on ``kit cv``'s ``folds`` splits of ``size`` rows
    (default all) for ``seeds`` seeds (0, 1, …); ``options`` sweeps the speed options (and races the other precision),
    ``startup`` times ``kit cv --help``, ``cv_estimate``/``full_size`` estimate/time full-size runs (``_fullsize``),
    ``images``/``backbones`` add those phases. Writes ``bench.json`` (``plot``: bench.png) in ``out``."""
    from kit.data import resolve_data_dir
    from kit.recipes import Recipe, load_recipe
    from kit.utils import software_versions

    competition = as_competition(competition, data)
    _check_arguments(out, notebook_epochs, seeds, folds)
    loaded = recipe if isinstance(recipe, Recipe) else load_recipe(str(recipe))
    overrides = dict(overrides or {})
    loaded = loaded.with_overrides(overrides) if overrides else loaded
    data_dir = resolve_data_dir(data, competition)
    load_before = os.getloadavg()[0]
    split = bench_data(data_dir, competition, size)
    classes = competition.classes
    seed_list = tuple(range(seeds))

    def splits(seed: int) -> list[BenchData]:
        return fold_data(data_dir, competition, size, folds, seed, split.inference_images)

    part = splits(0)[0]  # a data problem stops the bench before any training
    alternative = fast_precision(loaded) if options else None
    listeners = as_callback_list(callbacks)
    asked = {"cv_estimate": cv_estimate, "full_size": full_size, "images": images, "backbones": backbones}
    listeners.on_run_begin("bench", startup + 2 + options + bool(alternative) + sum(asked.values()), None)
    started_up = measure_startup(callbacks=listeners) if startup else None
    notebook = _race_notebook(notebook_epochs, seed_list, splits, classes, listeners)
    throughputs, warmups = option_throughputs(loaded, split, classes, callbacks=listeners) if options else ({}, {})
    contenders = _race_recipe(loaded, alternative, notebook, seed_list, splits, classes, listeners)
    load_average = [load_before, os.getloadavg()[0]]
    kit = contenders[1]
    later = _later_phases(loaded, data_dir, competition, kit, asked, listeners, load_average)
    ratio, first_reach_ratio = _ratios(notebook, kit)
    result = BenchResult(
        machine=machine(),
        load_average=tuple(load_average),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        recipe=loaded.name,
        recipe_hash=loaded.content_hash,
        overrides=overrides,
        data=_rows(split, part),
        contenders=tuple(contenders),
        time_to_notebook_accuracy_ratio=ratio,
        first_reach_ratio=first_reach_ratio,
        seeds=seed_list,
        folds=folds,
        option_images_per_s=throughputs,
        option_warmup_seconds=warmups,
        verdicts=_precision_verdicts(loaded, alternative, contenders, notebook),
        cli_startup=started_up,
        versions=software_versions(),
        **later,
    )
    result = _save(result, out, plot)
    listeners.on_run_end()
    return result
