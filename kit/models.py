"""Build a compiled Keras model from a recipe."""

from __future__ import annotations

from dataclasses import asdict

import keras
from keras import layers

from kit.recipes import Recipe, TrainSpec

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
    "nadam": keras.optimizers.Nadam,
}
POOLING = {"max": layers.MaxPooling2D, "avg": layers.AveragePooling2D}
HEADS = {"flatten": layers.Flatten, "global_avg": layers.GlobalAveragePooling2D, "global_max": layers.GlobalMaxPooling2D}


def build_layers(recipe: Recipe, input_shape: tuple[int, ...], classes: int) -> list[keras.layers.Layer]:
    """The recipe's layer stack: uint8-range input scaled to [0, 1], conv blocks, head, dense, softmax."""
    spec = recipe.model
    stack: list[keras.layers.Layer] = [keras.Input(shape=input_shape), layers.Rescaling(1.0 / 255)]
    for block in spec.blocks:
        stack += [
            layers.Conv2D(block.filters, block.kernel, padding="same", activation=spec.activation)
            for _ in range(block.convs)
        ]
        if block.pool != "none":
            stack.append(POOLING[block.pool](pool_size=2, padding="same"))
        if block.dropout:
            stack.append(layers.Dropout(block.dropout))
    stack.append(HEADS[spec.head]())
    for dense in spec.dense:
        stack.append(layers.Dense(dense.units, activation=spec.activation))
        if dense.dropout:
            stack.append(layers.Dropout(dense.dropout))
    stack.append(layers.Dense(classes, activation="softmax"))
    return stack


def make_optimizer(train: TrainSpec) -> keras.optimizers.Optimizer:
    """The recipe's optimiser at its learning rate."""
    return OPTIMIZERS[train.optimizer](learning_rate=train.learning_rate)


def build_model(recipe: Recipe, input_shape: tuple[int, ...], classes: int) -> keras.Model:
    """A compiled ``keras.Sequential`` for the recipe, with categorical cross-entropy and accuracy."""
    model = keras.Sequential(build_layers(recipe, input_shape, classes), name=recipe.name.replace("-", "_"))
    model.compile(
        optimizer=make_optimizer(recipe.train),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.train.label_smoothing),
        metrics=["accuracy"],
    )
    return model


def build_callbacks(recipe: Recipe) -> list[keras.callbacks.Callback]:
    """The recipe's EarlyStopping / ReduceLROnPlateau callbacks."""
    callbacks: list[keras.callbacks.Callback] = []
    if recipe.callbacks.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(**asdict(recipe.callbacks.early_stopping)))
    if recipe.callbacks.reduce_lr_on_plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(**asdict(recipe.callbacks.reduce_lr_on_plateau)))
    return callbacks
