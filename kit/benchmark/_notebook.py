"""The notebook's own training pipeline, the bench's reference: its final CNN in the Keras 2 API (tf-keras), fed by
``ImageDataGenerator.flow`` with ReduceLROnPlateau and Adam, timed epoch by epoch."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from kit.benchmark._measure import BenchData, Contender, inference_rate, peak_rss_mib, steady_throughput
from kit.errors import KitError
from kit.utils import CallbackList, import_tensorflow

NAME = "notebook pipeline"
NOTEBOOK_EPOCHS = 30
NOTEBOOK_BATCH = 128


def _notebook_cnn(tf_keras: Any, input_shape: tuple[int, ...], classes: int) -> Any:
    """The seed notebook's final CNN, layer for layer."""
    layers = tf_keras.layers
    return tf_keras.Sequential(
        [
            layers.Conv2D(32, (3, 3), activation="relu", padding="same", input_shape=input_shape),
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


def train_notebook_cnn(
    data: BenchData,
    classes: int,
    epochs: int = NOTEBOOK_EPOCHS,
    callbacks: CallbackList | None = None,
    seed: int = 0,
    phase: str = NAME,
) -> tuple[Any, list[tuple[float, float]]]:
    """The notebook's final CNN trained on one split of the bench (random state ``seed``) as the notebook trains it,
    each epoch reported as ``on_phase(phase, epoch, epochs)``: the model and its (seconds, val accuracy) curve."""
    import_tensorflow()
    try:
        import tf_keras
        from tf_keras.preprocessing.image import ImageDataGenerator
    except ImportError:
        raise KitError(
            "the bench needs tf-keras for the notebook's ImageDataGenerator: pip install -e '.[bench]'"
        ) from None

    listeners = callbacks or CallbackList()
    tf_keras.utils.set_random_seed(seed)
    fit_x, val_x = data.fit_images.astype(np.float32) / 255.0, data.val_images.astype(np.float32) / 255.0
    fit_y, val_y = (tf_keras.utils.to_categorical(labels, classes) for labels in (data.fit_labels, data.val_labels))
    started = time.perf_counter()
    model = _notebook_cnn(tf_keras, fit_x.shape[1:], classes)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    datagen = ImageDataGenerator(rotation_range=10, zoom_range=0.1, width_shift_range=0.1, height_shift_range=0.1)
    datagen.fit(fit_x)
    curve: list[tuple[float, float]] = []

    def stamp(epoch: int, logs: dict[str, float]) -> None:
        curve.append((time.perf_counter() - started, float(logs["val_accuracy"])))
        listeners.on_phase(phase, epoch + 1, epochs)

    listeners.on_phase(phase, 0, epochs)
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
    return model, curve


def notebook_pipeline(
    data: BenchData,
    classes: int,
    epochs: int = NOTEBOOK_EPOCHS,
    callbacks: CallbackList | None = None,
    seed: int = 0,
    infer: bool = True,
    phase: str = NAME,
) -> Contender:
    """Train the notebook's final CNN on one split of the bench (:func:`train_notebook_cnn`); ``infer``: also time
    its inference on ``data.inference_images``."""
    model, curve = train_notebook_cnn(data, classes, epochs, callbacks, seed, phase)
    return Contender(
        name=NAME,
        val_accuracy=curve[-1][1],
        wall_seconds=curve[-1][0],
        train_images_per_s=steady_throughput(len(data.fit_images), curve),
        inference_images_per_s=inference_rate(
            lambda images: model.predict(images.astype(np.float32) / 255.0, verbose=0), data.inference_images
        )
        if infer
        else 0.0,
        peak_rss_mib=peak_rss_mib(),
        curve=tuple(curve),
    )
