"""The bench's backbone phase (``kit bench --backbones-only``; part of `make bench`, not of ``--quick``): what the
pretrained backbones of ``[model.backbone]`` cost on this machine, with random weights (nothing is downloaded):

1. the TRAINING images/s of each backbone (default MobileNetV3Small, EfficientNetV2B0, ResNet50) at each side (96×96,
   224×224) in float32 and in mixed bfloat16: the model built by kit's own :func:`kit.engine.build_model` from a
   recipe with ``[model.backbone]`` (the whole backbone trainable, batches of 32, kit's fine-tuning callbacks), fit
   on one batch of random uint8 pixels held as a constant (the input pipeline out of the figure); after a warm-up
   that traces the train step, the median of 3 timings of a few steps each, taken inside one fit from Keras' batch
   callbacks (a fit's own start and end, ~1.3 s where tf.data's autotuner has to stop, are not the model's);
2. the INFERENCE rate of a 5-fold ensemble of one backbone (default MobileNetV3Small at 96×96), predicted as kit
   predicts a run: :func:`kit.engine.compile_predictor` on the five fold models (one graph averaging their softmax
   outputs) in float32, and quantized to int8 with the share of predicted classes it keeps;
3. a verdict per backbone: whether mixed bfloat16 trains faster than float32 here, as the ratio of their rates.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kit.utils import CallbackList

BACKBONES = ("MobileNetV3Small", "EfficientNetV2B0", "ResNet50")
SIDES = (96, 224)
FLOAT32, BFLOAT16 = "float32", "mixed_bfloat16"
PRECISIONS = (FLOAT32, BFLOAT16)
BATCH = 32
CLASSES = 10
REPEATS = 3
TIMING_SECONDS = 2.0  # each timing runs about this long: as many steps as fit, 1 to MAX_STEPS
MAX_STEPS = 16
ENSEMBLE_BACKBONE, ENSEMBLE_SIDE, ENSEMBLE_FOLDS, ENSEMBLE_ROWS = "MobileNetV3Small", 96, 5, 2000
SAME = 0.05  # a ratio within 1 ± this is "as fast": single timings on this shared machine vary about that much
PHASE = "backbones"
ADVICE = {
    "faster": "train it in mixed_bfloat16",
    "slower": "train it in float32",
    "mixed": "the faster precision depends on the side",
    "same": "no gain from bfloat16",
}


@dataclass(frozen=True)
class TrainingRate:
    """Training images/s of ``backbone`` on ``side``² RGB images in ``precision``: ``steps`` steps of ``batch``
    images per timing, each timing's seconds, the images/s of their median, and the seconds of the warm-up fit (the
    train step's tracing and one step)."""

    backbone: str
    side: int
    precision: str
    batch: int
    steps: int
    seconds: tuple[float, ...]
    images_per_s: float
    warmup_seconds: float


@dataclass(frozen=True)
class EnsembleRate:
    """Test images/s through ``folds`` fold models of ``backbone`` at ``side``² as one compiled graph, on ``rows``
    random images: in float32 by ``engine`` (``fallback``: why it fell back to Keras, if it did), and in int8 (None
    where int8 fell back to Keras' float32) with the share of predicted classes int8 keeps."""

    backbone: str
    side: int
    folds: int
    rows: int
    engine: str
    images_per_s: float
    int8_images_per_s: float | None
    int8_agreement: float | None
    fallback: str | None = None


@dataclass(frozen=True)
class PrecisionVerdict:
    """Mixed bfloat16's training rate over float32's for ``backbone`` at each side, and the verdict in words."""

    backbone: str
    sides: tuple[int, ...]
    speedups: tuple[float, ...]
    verdict: str


@dataclass(frozen=True)
class BackboneBench:
    """What the backbone phase measured (``bench.json``'s ``backbones``)."""

    machine: str
    training: tuple[TrainingRate, ...]
    ensemble: EnsembleRate | None
    verdicts: tuple[PrecisionVerdict, ...]
    classes: int = CLASSES
    deterministic_ops: bool = True  # as `kit cv` trains unless a recipe sets train.deterministic = false
    weights: str = "random initial weights, the whole backbone trainable"
    wall_seconds: float = 0.0
    load_average: tuple[float, ...] = ()  # the 1-minute load average before and after the phase


def backbone_recipe(backbone: str, precision: str = FLOAT32, batch: int = BATCH) -> Any:
    """A recipe of ``backbone`` with random weights (its whole network trained from the first epoch) in
    ``precision``, batches of ``batch``, otherwise kit's defaults."""
    from kit.recipes import parse_recipe

    table = {
        "description": f"{backbone} at random weights for the bench's backbone phase",
        "model": {"backbone": {"name": backbone}},
        "train": {"batch_size": batch, "precision": precision, "epochs": 1},
    }
    return parse_recipe(table, f"bench-{backbone.lower()}")


def _released() -> None:
    """The last model's memory freed before the next model is built (Keras' global state, its dtype policy
    included, is left as the caller set it: no ``clear_session``)."""
    gc.collect()


def training_rate(
    backbone: str, side: int, precision: str, batch: int = BATCH, steps: int | None = None, repeats: int = REPEATS
) -> TrainingRate:
    """Training images/s of ``backbone`` at ``side``² in ``precision`` (see the module). A warm-up fit of two steps
    (the first traces the train step, the second sets the steps per timing; ``steps``: fixed), then one fit of
    ``repeats`` × that many steps, each timing from the start of its first step to the end of its last as Keras'
    batch callbacks see them: the fit's own start and end (iterator, callbacks) are left out."""
    import keras

    from kit.engine import build_callbacks, build_model
    from kit.engine._pipeline import without_autotune
    from kit.utils import import_tensorflow

    tf = import_tensorflow()
    recipe = backbone_recipe(backbone, precision, batch)
    model = build_model(recipe, (side, side, 3), CLASSES, seed=0)
    pixels = np.random.default_rng(0).integers(0, 256, (batch, side, side, 3), dtype=np.uint8)
    labels = keras.utils.to_categorical(np.arange(batch) % CLASSES, CLASSES)
    batches = without_autotune(tf.data.Dataset.from_tensors((tf.constant(pixels, tf.float32), labels)).repeat())
    begins: list[float] = []
    ends: list[float] = []
    stamps = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda *_, **__: begins.append(time.perf_counter()),
        on_train_batch_end=lambda *_, **__: ends.append(time.perf_counter()),
    )
    callbacks = [*build_callbacks(recipe), stamps]  # the backbone's fine-tuning phases, as `kit cv` fits it

    def fit(count: int) -> None:
        begins.clear()
        ends.clear()
        model.fit(batches.take(count), verbose=0, shuffle=False, callbacks=callbacks)

    started = time.perf_counter()
    fit(2)
    warmup, one = ends[0] - started, ends[1] - begins[1]
    per_timing = steps or int(min(MAX_STEPS, max(1, round(TIMING_SECONDS / one))))
    fit(repeats * per_timing)
    seconds = [ends[(k + 1) * per_timing - 1] - begins[k * per_timing] for k in range(repeats)]
    return TrainingRate(
        backbone=backbone,
        side=side,
        precision=precision,
        batch=batch,
        steps=per_timing,
        seconds=tuple(round(value, 3) for value in seconds),
        images_per_s=round(per_timing * batch / statistics.median(seconds), 2),
        warmup_seconds=round(warmup, 3),
    )


def ensemble_rate(
    backbone: str = ENSEMBLE_BACKBONE, side: int = ENSEMBLE_SIDE, folds: int = ENSEMBLE_FOLDS, rows: int = ENSEMBLE_ROWS
) -> EnsembleRate:
    """Test images/s of ``folds`` fold models of ``backbone`` (float32, each its own random weights) compiled as `kit
    predict` compiles a run's (:func:`kit.engine.compile_predictor`), on ``rows`` random uint8 images of ``side``².

    The fold models are kit's layer stack (:func:`kit.engine.build_layers`) uncompiled, as `kit predict` loads a
    run's models (``compile=False``)."""
    import keras

    from kit.benchmark._measure import inference_rate
    from kit.engine import PROBE_ROWS, build_layers, compile_predictor

    recipe = backbone_recipe(backbone)
    shape = (side, side, 3)
    models = [
        keras.Sequential(build_layers(recipe, shape, CLASSES, seed=fold), name=f"fold_{fold + 1}")
        for fold in range(folds)
    ]
    images = np.random.default_rng(1).integers(0, 256, (rows, *shape), dtype=np.uint8)
    exact = compile_predictor(models, probe=images[:PROBE_ROWS])
    quantized = compile_predictor(models, probe=images[:PROBE_ROWS], precision="int8")
    int8_rate = agreement = None
    if quantized.engine == "tflite":  # else int8 fell back to Keras' float32: nothing quantized to report
        agreement = round(float(np.mean(exact(images).argmax(axis=1) == quantized(images).argmax(axis=1))), 6)
        int8_rate = round(inference_rate(quantized, images), 1)
    return EnsembleRate(
        backbone=backbone,
        side=side,
        folds=folds,
        rows=rows,
        engine=exact.engine,
        images_per_s=round(inference_rate(exact, images), 1),
        int8_images_per_s=int8_rate,
        int8_agreement=agreement,
        fallback=exact.fallback,
    )


def precision_verdicts(training: Iterable[TrainingRate]) -> tuple[PrecisionVerdict, ...]:
    """Per backbone measured in both precisions: mixed bfloat16's rate over float32's at each side, in words
    ("faster" beyond 1 + :data:`SAME`, "slower" below 1 − it, else "as fast"), and the precision to train it in:
    bfloat16 where it is faster at some side and slower at none, float32 the other way round."""
    rates = {(rate.backbone, rate.side, rate.precision): rate.images_per_s for rate in training}
    verdicts = []
    for backbone in dict.fromkeys(key[0] for key in rates):
        sides = sorted(
            {side for b, side, _ in rates if b == backbone and {(b, side, p) for p in PRECISIONS} <= rates.keys()}
        )
        if not sides:
            continue
        speedups = tuple(round(rates[(backbone, s, BFLOAT16)] / rates[(backbone, s, FLOAT32)], 3) for s in sides)
        words = ["faster" if r > 1 + SAME else "slower" if r < 1 - SAME else "as fast" for r in speedups]
        shown = ", ".join(f"{word} at {s}×{s} ({r:.2f}×)" for word, s, r in zip(words, sides, speedups))
        overall = "mixed" if {"faster", "slower"} <= set(words) else next((w for w in words if w != "as fast"), "same")
        advice = ADVICE[overall]
        verdict = f"{backbone}: mixed bfloat16 against float32 on this CPU, {shown} → {advice}"
        verdicts.append(PrecisionVerdict(backbone, tuple(sides), speedups, verdict))
    return tuple(verdicts)


def run_backbone_bench(
    backbones: Iterable[str] = BACKBONES,
    sides: Iterable[int] = SIDES,
    precisions: Iterable[str] = PRECISIONS,
    *,
    batch: int = BATCH,
    steps: int | None = None,
    repeats: int = REPEATS,
    ensemble: tuple[str, int, int, int] | None = (ENSEMBLE_BACKBONE, ENSEMBLE_SIDE, ENSEMBLE_FOLDS, ENSEMBLE_ROWS),
    callbacks: CallbackList | None = None,
) -> BackboneBench:
    """The backbone phase: :func:`training_rate` of every backbone × side × precision (``steps`` per timing, default
    as many as fill :data:`TIMING_SECONDS`), then :func:`ensemble_rate` of ``ensemble`` (backbone, side, folds, rows;
    None: skipped), and the bf16 verdicts. TensorFlow's ops are made deterministic, as `kit cv` trains."""
    from kit.benchmark._measure import machine
    from kit.utils import prepare_tensorflow

    listeners = callbacks or CallbackList()
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    prepare_tensorflow(None, deterministic=True)
    runs = [(b, s, p) for b in backbones for s in sides for p in precisions]
    total = len(runs) + (ensemble is not None)
    listeners.on_phase(PHASE, 0, total)
    training = []
    for done, (backbone, side, precision) in enumerate(runs, start=1):
        training.append(training_rate(backbone, side, precision, batch, steps, repeats))
        _released()
        listeners.on_phase(PHASE, done, total)
    inference = ensemble_rate(*ensemble) if ensemble is not None else None
    _released()
    listeners.on_phase(PHASE, total, total)
    return BackboneBench(
        machine=machine(),
        training=tuple(training),
        ensemble=inference,
        verdicts=precision_verdicts(training),
        wall_seconds=round(time.perf_counter() - started, 1),
        load_average=(load_before, os.getloadavg()[0]),
    )


def save_backbone_bench(result: BackboneBench, path: Path | str) -> Path:
    """Write ``result`` as the ``backbones`` entry of the bench.json ``path``, keeping whatever else a bench.json
    there holds: ``kit bench --backbones-only`` adds to the last full bench, never erases it."""
    from dataclasses import asdict

    from kit.utils import read_json, write_json

    path = Path(path)
    content = read_json(path, dict) if path.is_file() else {}
    content["backbones"] = asdict(result)
    write_json(path, content)
    return path
