"""The bench's image-file phase (``kit bench --images-only``; part of `make bench`), on generated JPEG competitions
(a labels CSV and a folder of images, written once into a temporary folder and removed after):

1. the cache build rate: :func:`kit.data._cache.cached_images` decoding 20,000 128×128 JPEGs to 96×96×3 from
   scratch (median of 3 builds);
2. one fold's epoch of a recipe (default ``photo``) trained from that cache through ``kit cv``'s own fold
   (:func:`kit.crossval._fold.train_fold`), its rows read from the cache file batch by batch (the path of a set above
   the memory budget, forced), against the same fold fed the images as an array in memory;
3. a set whose cache exceeds 4 GiB (30,000 images at 224×224×3, hard links of a few small JPEGs: the decoding is
   real, the files cheap) trained one epoch by a ``kit cv`` child process (``--jobs 1``), with its peak memory as the
   full-size runs measure it (:func:`kit.benchmark._fullsize.timed_cv`).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from kit.benchmark._fullsize import POLL_SECONDS, timed_cv
from kit.utils import CallbackList

ROWS, SIDE, SOURCE_SIDE = 20_000, 96, 128  # 1: JPEGs of 128×128 decoded and resized to 96×96×3
LARGE_ROWS, LARGE_SIDE, LARGE_SOURCE_SIDE, LARGE_DISTINCT = 30_000, 224, 64, 200  # 3: 4.2 GiB of pixels
CLASSES = 10
BUILDS = 3
EPOCH_RECIPE = "photo"
EPOCH_RATIO_TARGET = 1.1
LARGE_RSS_TARGET_MIB = 2 * 1024
LARGE_RECIPE = """
description = "a small CNN at 224×224 for the bench's larger-than-memory set"
[model]
head = "global_avg"
[[model.blocks]]
filters = 16
strides = 2
batch_norm = "before_activation"
[[model.blocks]]
filters = 32
batch_norm = "before_activation"
[train]
batch_size = 64
epochs = 1
[cv]
folds = 2
[augment]
flip_horizontal = true
crop = 0.5
"""
PHASE = "image files"
MEASURED = (
    "the `kit cv` child's peak memory: the larger of its VmHWM (peak resident set size, file-backed pages included) "
    f"and the largest sum of its process tree's proportional set sizes (Pss), polled every {POLL_SECONDS} s"
)


@dataclass(frozen=True)
class CacheBuild:
    """Decoding ``rows`` JPEGs of ``source_side``² into a cache of ``shape`` from scratch: each build's seconds and
    the images per second of their median."""

    rows: int
    source_side: int
    shape: tuple[int, int, int]
    cache_gib: float
    seconds: tuple[float, ...]
    images_per_s: float


@dataclass(frozen=True)
class EpochComparison:
    """One fold's epoch of ``recipe`` (``train_rows`` trained, ``val_rows`` validated, timed from the end of its
    first epoch to the end of its second, so no graph tracing is in it) with the images in memory and read from
    the cache file batch by batch; ``same_numbers``: both fits gave the same history and predictions."""

    recipe: str
    train_rows: int
    val_rows: int
    memory_seconds: float
    streamed_seconds: float
    ratio: float
    same_numbers: bool
    target: float = EPOCH_RATIO_TARGET


@dataclass(frozen=True)
class LargeSet:
    """One epoch of every fold of ``recipe`` by ``command`` on a cache of ``build.cache_gib`` GiB: wall time and
    peak memory (``measured`` says what), against the target."""

    build: CacheBuild
    recipe: str
    folds: int
    command: str
    wall_seconds: float
    peak_mib: float
    oof_accuracy: float
    measured: str = MEASURED
    target_mib: float = LARGE_RSS_TARGET_MIB


@dataclass(frozen=True)
class ImageBench:
    """What the image-file phase measured (``bench.json``'s ``images``)."""

    machine: str
    memory_budget_bytes: int
    build: CacheBuild
    epoch: EpochComparison | None
    large: LargeSet | None
    load_average: tuple[float, ...] = ()  # the 1-minute load average before and after the phase


def write_competition(folder: Path, rows: int, side: int, source_side: int, distinct: int | None = None) -> Any:
    """A labels-CSV competition of ``rows`` coloured digit JPEGs of ``source_side``² (10 classes) in ``folder``,
    decoded to ``side``×``side``×3, with its ``competition.toml``; ``distinct``: only that many files are encoded,
    the others are hard links to them (copies where links fail). Returns the competition."""
    import pandas as pd
    from PIL import Image

    from kit.competitions import load_spec
    from kit.data._demo import digit_images

    digits, labels = digit_images((source_side, source_side, 3))
    rng = np.random.default_rng(0)
    images = folder / "train"
    images.mkdir(parents=True)
    encoded = rows if distinct is None else min(rows, distinct)
    picks = np.arange(rows) % len(digits)
    for row in range(rows):
        path = images / f"{row:06d}.jpg"
        if row >= encoded:
            _link(images / f"{row % encoded:06d}.jpg", path)
            picks[row] = picks[row % encoded]
            continue
        tint = rng.uniform(0.4, 1.0, 3) * 255 / max(1, int(digits[picks[row]].max()))
        noise = rng.integers(0, 40, (source_side, source_side, 3))
        pixels = np.clip(digits[picks[row]] * tint + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, quality=90)
    pd.DataFrame({"id": [f"{row:06d}" for row in range(rows)], "label": labels[picks]}).to_csv(
        folder / "train.csv", index=False
    )
    spec = folder / "competition.toml"
    spec.write_text(
        f'name = "bench-images"\nmetric = "accuracy"\nclasses = {CLASSES}\n'
        '[images]\nlayout = "csv"\npattern = "{id}.jpg"\n'
        f"[image]\nheight = {side}\nwidth = {side}\nchannels = 3\n"
        '[columns]\nlabel = "label"\nid = "id"\n',
        encoding="utf-8",
    )
    return load_spec(spec)


def _link(source: Path, path: Path) -> None:
    try:
        os.link(source, path)
    except OSError:
        shutil.copyfile(source, path)


def time_builds(folder: Path, competition: Any, builds: int) -> CacheBuild:
    """Build the competition's training cache from scratch ``builds`` times (the cache folder removed first)."""
    from kit.data import train_files
    from kit.data._cache import cached_images
    from kit.data._imageset import CACHE_DIR

    paths = train_files(folder, competition).paths
    shape = competition.image_shape
    seconds = []
    for _ in range(builds):
        shutil.rmtree(folder / CACHE_DIR, ignore_errors=True)
        started = time.perf_counter()
        built = cached_images(paths, shape, competition.images.resize, folder / CACHE_DIR, root=folder, tag="train")
        seconds.append(round(time.perf_counter() - started, 2))
    return CacheBuild(
        rows=len(paths),
        source_side=_width(paths[0]),
        shape=tuple(shape),
        cache_gib=round(built.nbytes / 2**30, 3),
        seconds=tuple(seconds),
        images_per_s=round(len(paths) / statistics.median(seconds), 1),
    )


def _width(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return image.width


@contextmanager
def _budget(value: int) -> Iterator[None]:
    """``$KIT_MEMORY_BUDGET`` set to ``value`` bytes for the block, then as it was."""
    from kit.data._rows import BUDGET_ENV

    saved = os.environ.get(BUDGET_ENV)
    os.environ[BUDGET_ENV] = str(value)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(BUDGET_ENV, None)
        else:
            os.environ[BUDGET_ENV] = saved


def compare_epochs(folder: Path, competition: Any, recipe: Any) -> EpochComparison:
    """Fold 1 of ``recipe`` trained two epochs on the competition's images from its cache, read batch by batch (the
    memory budget forced to 0), and on the same images as an array in memory; each epoch's seconds from the fold's
    own epoch reports."""
    from kit.crossval import fold_splits
    from kit.crossval._fold import FoldJob, train_fold
    from kit.data import load_train

    train = load_train(folder, competition)
    in_memory = replace(train, images=np.array(train.images), source=None)
    trained = recipe.with_overrides({"train.epochs": 2})
    split = fold_splits(train.labels, trained.cv.folds, trained.cv.seed)[0]
    job = FoldJob.of(trained, 1, split, competition.classes)
    results, seconds = {}, {}
    for name, images in (("memory", in_memory), ("streamed", train)):
        ends: list[float] = []
        with _budget(0 if name == "streamed" else 1 << 62):
            results[name] = train_fold(job, images, None, lambda *_, ends=ends: ends.append(time.perf_counter()))
        seconds[name] = round(ends[2] - ends[1], 2)
    memory, streamed = results["memory"], results["streamed"]
    same = memory.history == streamed.history and np.array_equal(memory.val_proba, streamed.val_proba)
    return EpochComparison(
        recipe=recipe.name,
        train_rows=len(split[0]),
        val_rows=len(split[1]),
        memory_seconds=seconds["memory"],
        streamed_seconds=seconds["streamed"],
        ratio=round(seconds["streamed"] / seconds["memory"], 3),
        same_numbers=bool(same),
    )


def large_set(folder: Path, competition: Any, recipe: Any, build: CacheBuild, workdir: Path) -> LargeSet:
    """One epoch of every fold of ``recipe`` by a ``kit cv --jobs 1`` child on the built cache, its peak memory."""
    wall, peak, summary = timed_cv(recipe, folder, competition, workdir, epochs=1, jobs="1")
    command = f"kit cv {recipe.name}.toml --data {folder} --competition {competition.source} --jobs 1 --epochs 1"
    return LargeSet(
        build=build,
        recipe=recipe.name,
        folds=recipe.cv.folds,
        command=command,
        wall_seconds=round(wall, 1),
        peak_mib=round(peak, 1),
        oof_accuracy=summary.oof_accuracy,
    )


def run_image_bench(
    *,
    rows: int = ROWS,
    large_rows: int | None = LARGE_ROWS,
    side: int = SIDE,
    large_side: int = LARGE_SIDE,
    builds: int = BUILDS,
    epoch_recipe: Any = EPOCH_RECIPE,
    large_recipe: Any = None,
    workdir: Path | str | None = None,
    callbacks: CallbackList | None = None,
) -> ImageBench:
    """The image-file phase: the cache build rate of ``rows`` generated JPEGs at ``side``², one fold's epoch of
    ``epoch_recipe`` (a name or a Recipe; None: skipped) streamed from the cache against in memory, and one epoch of
    ``large_recipe`` (default a small CNN, :data:`LARGE_RECIPE`) on ``large_rows`` images at ``large_side``² (None:
    skipped). Everything is generated under ``workdir`` (default a temporary folder) and removed after."""
    from kit.benchmark._measure import machine
    from kit.data import memory_budget
    from kit.recipes import Recipe, load_recipe, parse_recipe

    listeners = callbacks or CallbackList()
    load_before = os.getloadavg()[0]
    steps = 3 + 2 * (large_rows is not None)
    listeners.on_phase(PHASE, 0, steps)
    with tempfile.TemporaryDirectory(prefix="kit-bench-images-", dir=workdir) as scratch:
        base = Path(scratch)
        competition = write_competition(base / "small", rows, side, SOURCE_SIDE * side // SIDE)
        listeners.on_phase(PHASE, 1, steps)
        build = time_builds(base / "small", competition, builds)
        listeners.on_phase(PHASE, 2, steps)
        epoch = None
        if epoch_recipe is not None:
            recipe = epoch_recipe if isinstance(epoch_recipe, Recipe) else load_recipe(str(epoch_recipe))
            epoch = compare_epochs(base / "small", competition, recipe)
        listeners.on_phase(PHASE, 3, steps)
        shutil.rmtree(base / "small")
        large = None
        if large_rows is not None:
            source = max(8, LARGE_SOURCE_SIDE * large_side // LARGE_SIDE)
            big = write_competition(base / "large", large_rows, large_side, source, distinct=LARGE_DISTINCT)
            large_build = time_builds(base / "large", big, 1)
            listeners.on_phase(PHASE, 4, steps)
            recipe = large_recipe or parse_recipe(tomllib.loads(LARGE_RECIPE), "bench-large")
            large = large_set(base / "large", big, recipe, large_build, base / "work")
            listeners.on_phase(PHASE, 5, steps)
    return ImageBench(machine(), memory_budget(), build, epoch, large, (load_before, os.getloadavg()[0]))


def save_image_bench(result: ImageBench, path: Path | str) -> Path:
    """Write ``result`` as the ``images`` entry of the bench.json ``path``, keeping whatever else a bench.json there
    holds (the digit race's figures): ``kit bench --images-only`` adds to the last full bench, never erases it."""
    from dataclasses import asdict

    from kit.utils import read_json, write_json

    path = Path(path)
    content = read_json(path, dict) if path.is_file() else {}
    content["images"] = asdict(result)
    write_json(path, content)
    return path
