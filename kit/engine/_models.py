"""Build a compiled Keras model from a recipe: layers, optimiser with its learning-rate schedule, callbacks."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from typing import Any

import keras
from keras import layers, ops
from keras.initializers import GlorotUniform

from kit.engine._backbones import backbone_stack
from kit.engine._finetune import discriminative, fine_tuning_callbacks, prepare_fine_tuning
from kit.engine._pipeline import steps
from kit.recipes import BatchNorm, Recipe, TrainSpec
from kit.utils import resolve_precision

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
    "nadam": keras.optimizers.Nadam,
}


class WarmUpEMA:
    """Optimizer mixin: the moving average of the weights (``use_ema``) warms up as TensorFlow's
    ``ExponentialMovingAverage(num_updates=…)`` and An et al.'s EMA do — update n uses momentum
    min(ema_momentum, (1 + n) / (10 + n)) — so that a run of a few thousand steps does not keep the initial weights in
    its average (Keras' own EMA uses ``ema_momentum`` from the second step on)."""

    def _update_model_variables_moving_average(self, trainable_variables):
        updates = ops.cast(self.iterations + 1, "float32")
        momentum = ops.minimum(self.ema_momentum, (1.0 + updates) / (10.0 + updates))
        # The average starts at zero: the first update takes the weights.
        momentum = ops.where(ops.equal(self.iterations, 0), 0.0, momentum)
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                rate = ops.cast(momentum, variable.dtype)
                average.assign(rate * average + (1 - rate) * variable)


def _warm_ema(optimizer: type[keras.optimizers.Optimizer]) -> type[keras.optimizers.Optimizer]:
    """``optimizer`` with :class:`WarmUpEMA`, registered so that saved models load again."""
    warm = type(f"WarmEMA{optimizer.__name__}", (WarmUpEMA, optimizer), {})
    return keras.saving.register_keras_serializable("kit")(warm)


EMA_OPTIMIZERS = {name: _warm_ema(optimizer) for name, optimizer in OPTIMIZERS.items()}
RATED_OPTIMIZERS = [discriminative(o) for o in (*OPTIMIZERS.values(), *EMA_OPTIMIZERS.values())]  # backbone rates
POOLING = {"max": layers.MaxPooling2D, "avg": layers.AveragePooling2D}
HEADS = {
    "flatten": layers.Flatten,
    "global_avg": layers.GlobalAveragePooling2D,
    "global_max": layers.GlobalMaxPooling2D,
}
NO_WEIGHT_DECAY = ["bias", "gamma", "beta"]  # variable names kept out of weight decay: biases and batch-norm scales
TF_SCOPE_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.]*")  # names TensorFlow's name scopes take (and Keras: no "/")
DEFAULT_TRAIN_ROWS = 33_600  # one training fold of Digit Recognizer's 42,000 rows in 5-fold CV


def _normalised(
    make: Callable[..., keras.layers.Layer],
    batch_norm: BatchNorm | None,
    activation: str,
    norm: Callable[[], keras.layers.Layer],
    dtype: str,
) -> list[keras.layers.Layer]:
    """A conv or dense layer from ``make`` with its activation and optional batch norm before or after it.

    Before the activation the layer loses its bias, which the batch norm's offset makes redundant.
    """
    if batch_norm is None:
        return [make(activation=activation)]
    if batch_norm == "after_activation":
        return [make(activation=activation), norm()]
    return [make(activation=None, use_bias=False), norm(), layers.Activation(activation, dtype=dtype)]


def seed_drawer(seed: int | None) -> Callable[[], int | None]:
    """The seeds of the model's random layers, one call per layer in building order. Keras draws an unseeded layer's
    seed from Python's global ``random`` (``random.randint(1, 10**9)``), which other threads share: in a Dask worker the
    event loop draws from it too (connection back-off, work stealing), and a fold's initial weights then differed from
    run to run. With ``seed``, the same draws come from a private generator seeded as ``keras.utils.set_random_seed``
    seeds the global one — the same numbers, whatever other threads do. ``None``: Keras' own draws."""
    if seed is None:
        return lambda: None
    private = random.Random(seed)
    return lambda: private.randint(1, int(1e9))


def build_layers(
    recipe: Recipe, input_shape: tuple[int, ...], classes: int, seed: int | None = None, *, multilabel: bool = False
) -> list[keras.layers.Layer]:
    """The recipe's layer stack: uint8-range input scaled to [0, 1], conv blocks, head, dense, float32 softmax
    (``multilabel``: ``classes`` independent float32 sigmoids); ``seed`` seeds its random layers
    (:func:`seed_drawer`)."""
    recipe.feature_maps(input_shape)
    spec, dtype = recipe.model, resolve_precision(recipe.train.precision)
    draw = seed_drawer(seed)

    def weighted(layer: Callable[..., keras.layers.Layer], *args: Any, **options: Any) -> Callable[..., Any]:
        """``layer`` whose kernel initializer (Keras' default, Glorot uniform) takes the next seed when it is made."""
        return lambda **more: layer(*args, kernel_initializer=GlorotUniform(seed=draw()), **options, **more)

    def dropout(rate: float) -> keras.layers.Layer:
        return layers.Dropout(rate, seed=draw(), dtype=dtype)

    norm = partial(layers.BatchNormalization, momentum=spec.batch_norm_momentum, dtype=dtype)
    if spec.backbone is None:
        stack: list[keras.layers.Layer] = [keras.Input(shape=input_shape), layers.Rescaling(1.0 / 255, dtype=dtype)]
    else:  # a pretrained network, pooled, in place of the conv blocks and the head (kit.engine._backbones)
        stack = backbone_stack(spec.backbone, input_shape, dtype, dropout)
    for block in spec.blocks:
        for filters, kernel, stride, padding in block.conv_layout():
            conv = weighted(layers.Conv2D, filters, kernel, strides=stride, padding=padding, dtype=dtype)
            stack += _normalised(conv, block.batch_norm, spec.activation, norm, dtype)
        if block.pool != "none":
            stack.append(POOLING[block.pool](pool_size=2, padding="same", dtype=dtype))
        if block.dropout:
            stack.append(dropout(block.dropout))
    if spec.backbone is None:
        stack.append(HEADS[spec.head](dtype=dtype))
    if spec.head_dropout:
        stack.append(dropout(spec.head_dropout))
    for dense in spec.dense:
        dense_layer = weighted(layers.Dense, dense.units, dtype=dtype)
        stack += _normalised(dense_layer, dense.batch_norm, spec.activation, norm, dtype)
        if dense.dropout:
            stack.append(dropout(dense.dropout))
    stack.append(weighted(layers.Dense, classes, use_bias=not spec.output_batch_norm, dtype=dtype)())
    if spec.output_batch_norm:
        stack.append(norm())
    stack.append(layers.Activation("sigmoid" if multilabel else "softmax", dtype="float32"))
    return stack


def keras_name(recipe_name: str) -> str:
    """The Keras model name of a recipe: its name with ``-`` as ``_`` (``tuned-search`` → ``tuned_search``), or, for a
    name TensorFlow's name scopes refuse (``réçipé✓``, ``my recipe``, ``_x``), an ASCII slug of it (``recipe``,
    ``my_recipe``, ``recipe__x``). Only the model's name changes: the recipe keeps its own everywhere else."""
    name = recipe_name.replace("-", "_")
    if TF_SCOPE_NAME.fullmatch(name):
        return name
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9_.]+", "_", ascii_name)[:100]
    return slug if TF_SCOPE_NAME.fullmatch(slug) else f"recipe{'_' if slug else ''}{slug}"


def learning_rate(train: TrainSpec, steps_per_epoch: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The recipe's learning rate: a number, or a per-step Keras schedule spanning ``train.epochs`` epochs."""
    schedule, peak = train.schedule, train.learning_rate
    if train.snapshots is not None:  # cosine annealing with warm restarts: one cycle per snapshot (SGDR)
        cycle = train.epochs // train.snapshots.count * steps_per_epoch
        return keras.optimizers.schedules.CosineDecayRestarts(
            peak, first_decay_steps=cycle, t_mul=1.0, m_mul=1.0, alpha=train.snapshots.final_factor
        )
    if schedule.kind == "constant":
        return peak
    if schedule.kind == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            peak, decay_steps=steps_per_epoch, decay_rate=schedule.setting("decay"), staircase=True
        )
    total = train.epochs * steps_per_epoch
    warmup = min(round(schedule.setting("warmup") * total), total - 1)
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(peak, decay_steps=total, alpha=schedule.setting("final_factor"))
    return keras.optimizers.schedules.CosineDecay(
        peak * schedule.setting("start_factor"),
        decay_steps=total - warmup,
        alpha=schedule.setting("final_factor"),
        warmup_target=peak,
        warmup_steps=warmup,
    )


def make_optimizer(train: TrainSpec, steps_per_epoch: int | None = None) -> keras.optimizers.Optimizer:
    """The recipe's optimiser with its schedule, weight decay (not on biases or BN scales), EMA and loss scaling.

    ``steps_per_epoch`` (default: a Digit Recognizer training fold) sets the length of per-step schedules.
    """
    steps_per_epoch = steps_per_epoch or steps(DEFAULT_TRAIN_ROWS, train.batch_size)
    options = {} if train.weight_decay is None else {"weight_decay": train.weight_decay}
    if train.ema is not None:
        options.update(use_ema=True, ema_momentum=train.ema)
    optimizers = OPTIMIZERS if train.ema is None else EMA_OPTIMIZERS
    optimizer = optimizers[train.optimizer](learning_rate=learning_rate(train, steps_per_epoch), **options)
    optimizer.exclude_from_weight_decay(var_names=NO_WEIGHT_DECAY)
    if resolve_precision(train.precision) == "mixed_float16":  # "auto" on a GPU too
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def build_model(
    recipe: Recipe,
    input_shape: tuple[int, ...],
    classes: int,
    train_rows: int = DEFAULT_TRAIN_ROWS,
    seed: int | None = None,
    *,
    multilabel: bool = False,
) -> keras.Model:
    """A compiled ``keras.Sequential`` for the recipe, with categorical cross-entropy and accuracy; ``multilabel``:
    sigmoid outputs with binary cross-entropy and the per-label binary accuracy (still logged as ``accuracy``, so
    ``val_accuracy`` monitors keep working).

    ``train_rows``, the number of training images per epoch, sets the steps of per-step learning-rate schedules;
    ``seed`` seeds the initial weights and dropout (:func:`seed_drawer`; None: Python's global ``random``).
    """
    stack = build_layers(recipe, input_shape, classes, seed, multilabel=multilabel)
    model = keras.Sequential(stack, name=keras_name(recipe.name))
    smoothing = recipe.train.label_smoothing
    model.compile(
        optimizer=make_optimizer(recipe.train, steps(train_rows, recipe.train.batch_size)),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=smoothing)
        if multilabel
        else keras.losses.CategoricalCrossentropy(label_smoothing=smoothing),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")] if multilabel else ["accuracy"],
        jit_compile=recipe.train.jit_compile,
    )
    return prepare_fine_tuning(model, recipe.model.backbone)  # kit.engine._finetune: backbone phases and rate


def build_callbacks(recipe: Recipe) -> list[keras.callbacks.Callback]:
    """The recipe's EarlyStopping / ReduceLROnPlateau callbacks."""
    callbacks: list[keras.callbacks.Callback] = []
    if recipe.callbacks.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(**asdict(recipe.callbacks.early_stopping)))
    if recipe.callbacks.reduce_lr_on_plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(**asdict(recipe.callbacks.reduce_lr_on_plateau)))
    callbacks.extend(fine_tuning_callbacks(recipe))  # a backbone's freeze → unfreeze switch (kit.engine._finetune)
    return callbacks
