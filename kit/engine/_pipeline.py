"""tf.data input pipelines: a deterministic, epoch-addressable training stream with stateless augmentation, the
evaluation streams, the augmented copies test-time augmentation averages over, and the Keras-layer augmenter that
distillation uses.

Training batches are a pure function of (seed, epoch, batch index): epoch ``e`` visits the rows in a permutation drawn
from (seed, e), and each batch is augmented by one affine transform per image whose parameters are stateless random
draws from (seed, e, batch index), then by the elastic distortion (:mod:`kit.engine._elastic`) and the photo set
(:mod:`kit.engine._photo`), each drawn from a stream of its own. So the batches of epoch ``e`` are the same bits
whether training started at epoch 0 or resumed at ``e``, and parallel map calls cannot reorder any random draw. All
epochs come from ONE dataset, so Keras keeps one iterator for the whole fit instead of tearing one down and building
another every epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from kit.engine._elastic import ElasticAugment, deform
from kit.engine._photo import (
    RNG,
    check_images,
    compose_transforms,
    crop_transforms,
    draw_photo_parameters,
    flip_and_turn,
    jitter_colours,
)
from kit.recipes import AugmentSpec
from kit.utils import usable_cores

plain = tf.autograph.experimental.do_not_convert  # the map functions are plain TensorFlow: skip AutoGraph's ~3.7 s
ORDER_STREAM, AUGMENT_STREAM, PHOTO_STREAM, ELASTIC_STREAM = 0, 1, 2, 3  # independent random streams under one seed


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with tf.data's autotuning off. Destroying an autotuned iterator waits ~3 s for the autotuner's
    thread, all cores idle (native stacks: ``~IteratorResource`` waiting on ``UnboundedThreadPool``), and Keras
    destroys the validation iterator at every epoch's evaluation, each ``predict``'s at its end and the training
    iterator at the end of every fit (up to ~9 s per full-size fold). No stream of kit's is autotuned: the training
    stream's one map runs one call per core with two batches prefetched, as fast as autotuning found (speed notes)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def make_augmenter(spec: AugmentSpec, seed: int) -> keras.Sequential | None:
    """Random rotation, zoom and shift layers matching ImageDataGenerator's ranges, then the elastic distortion
    (:class:`~kit.engine._elastic.ElasticAugment`) and the photo set (:class:`PhotoAugment`), or None if off
    (distillation)."""
    if not spec.enabled:
        return None
    stack: list[keras.layers.Layer] = []
    if spec.rotation:
        stack.append(keras.layers.RandomRotation(spec.rotation / 360.0, fill_mode=spec.fill_mode, seed=seed))
    if spec.zoom:
        stack.append(keras.layers.RandomZoom((-spec.zoom, spec.zoom), fill_mode=spec.fill_mode, seed=seed + 1))
    if spec.width_shift or spec.height_shift:
        stack.append(
            keras.layers.RandomTranslation(spec.height_shift, spec.width_shift, fill_mode=spec.fill_mode, seed=seed + 2)
        )
    if spec.elastic:
        stack.append(ElasticAugment(spec.elastic, spec.elastic_sigma, seed + 4))
    if spec.photo:
        stack.append(PhotoAugment(spec, seed + 3))
    return keras.Sequential(stack, name="augment")


class PhotoAugment(keras.layers.Layer):
    """The photo set of ``spec`` as a Keras layer, its draws seeded from a Keras seed generator (distillation)."""

    def __init__(self, spec: AugmentSpec, seed: int, **options) -> None:
        super().__init__(**options)
        self.spec, self.generator = spec, keras.random.SeedGenerator(seed)

    def call(self, images: tf.Tensor, training: bool = True) -> tf.Tensor:
        if not training:
            return images
        seed = keras.random.randint((2,), 0, 2**31 - 1, seed=self.generator, dtype="int32")
        return photo_batch(images, self.spec, tf.cast(seed, tf.int64))


def stream_seed(seed: int, stream: int, *keys: tf.Tensor | int) -> tf.Tensor:
    """A stateless-RNG seed (shape [2]) for ``stream`` under ``seed``, folded with each of ``keys`` in turn."""
    folded = tf.constant([seed % 2**63, stream], dtype=tf.int64)
    for key in keys:
        folded = tf.random.experimental.stateless_fold_in(folded, tf.cast(key, tf.int64), alg=RNG)
    return folded


def epoch_order(rows: int, seed: int, epoch: int | tf.Tensor) -> tf.Tensor:
    """The row order of ``epoch``: a permutation of ``range(rows)`` that depends only on (seed, epoch)."""
    return tf.random.experimental.stateless_shuffle(
        tf.range(rows, dtype=tf.int64), seed=stream_seed(seed, ORDER_STREAM, epoch), alg=RNG
    )


def draw_parameters(spec: AugmentSpec, count: int | tf.Tensor, seed: tf.Tensor) -> dict[str, tf.Tensor]:
    """Per-image augmentation parameters from one stateless seed: rotation (degrees, counter-clockwise), zoom (the
    sampling scale, >1 shows the digit smaller, as in Keras' RandomZoom) and shifts (fractions of the width/height)."""
    uniform = tf.random.stateless_uniform(tf.stack([count, 4]), seed=seed, minval=-1.0, maxval=1.0, alg=RNG)
    return {
        "rotation": uniform[:, 0] * spec.rotation,
        "zoom": 1.0 + uniform[:, 1] * spec.zoom,
        "width_shift": uniform[:, 2] * spec.width_shift,
        "height_shift": uniform[:, 3] * spec.height_shift,
    }


def affine_transforms(parameters: dict[str, tf.Tensor], height: int, width: int) -> tf.Tensor:
    """One projective transform row ``[a0, a1, a2, b0, b1, b2, 0, 0]`` per image mapping output to input pixels:
    rotate about the centre, zoom about the centre, then shift by the fractions of the image size."""
    angle = parameters["rotation"] * (math.pi / 180.0)
    zoom = parameters["zoom"]
    centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
    shifted_x = centre_x + parameters["width_shift"] * width
    shifted_y = centre_y + parameters["height_shift"] * height
    a0, a1 = zoom * tf.cos(angle), -zoom * tf.sin(angle)
    b0, b1 = zoom * tf.sin(angle), zoom * tf.cos(angle)
    a2 = centre_x - a0 * shifted_x - a1 * shifted_y
    b2 = centre_y - b0 * shifted_x - b1 * shifted_y
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def apply_transforms(images: tf.Tensor, transforms: tf.Tensor, fill_mode: str) -> tf.Tensor:
    """Resample float ``images`` (batch, height, width, channels) through ``transforms`` (bilinear, fill value 0)."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=tf.cast(transforms, tf.float32),
        output_shape=tf.shape(images)[1:3],
        fill_value=tf.constant(0.0, tf.float32),
        interpolation="BILINEAR",
        fill_mode=fill_mode.upper(),
    )


def augment_batch(images: tf.Tensor, spec: AugmentSpec, seed: int, epoch: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
    """Float ``images`` augmented with parameters drawn from (seed, epoch, batch index) alone: the affine set from
    one stream, the photo set from another, the elastic distortion from a third (so a recipe without photo or elastic
    keys augments exactly as before they existed). The affine set and crop resample once, then the elastic distortion
    resamples that, then come the flips, turns and colours."""
    height, width = images.shape[1], images.shape[2]
    transforms = None
    if spec.affine:
        parameters = draw_parameters(spec, tf.shape(images)[0], stream_seed(seed, AUGMENT_STREAM, epoch, batch))
        transforms = affine_transforms(parameters, height, width)
    elastic = stream_seed(seed, ELASTIC_STREAM, epoch, batch) if spec.elastic else None
    if spec.photo:
        return photo_batch(images, spec, stream_seed(seed, PHOTO_STREAM, epoch, batch), transforms, elastic)
    images = images if transforms is None else apply_transforms(images, transforms, spec.fill_mode)
    return images if elastic is None else deform(images, spec.elastic, spec.elastic_sigma, elastic, (height, width))


def photo_batch(
    images: tf.Tensor,
    spec: AugmentSpec,
    seed: tf.Tensor,
    transforms: tf.Tensor | None = None,
    elastic: tf.Tensor | None = None,
) -> tf.Tensor:
    """Float ``images`` through the photo set drawn from the stateless ``seed``: the crop (composed after the affine
    ``transforms``, if any, into one resample), the elastic distortion drawn from the stateless seed ``elastic`` if
    given, flips and quarter turns, then colour jitter."""
    check_images(spec, tuple(images.shape))
    size = images.shape[1], images.shape[2]  # the resample below loses the static shape in a graph
    parameters = draw_photo_parameters(spec, tf.shape(images)[0], seed)
    if spec.crop is not None:
        crop = crop_transforms(parameters, *size)
        transforms = crop if transforms is None else compose_transforms(crop, transforms)
    if transforms is not None:
        images = apply_transforms(images, transforms, spec.fill_mode)
    if elastic is not None:
        images = deform(images, spec.elastic, spec.elastic_sigma, elastic, size)
    images = flip_and_turn(images, parameters, spec)
    return jitter_colours(images, parameters, spec) if any(spec.colour) else images


def training_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    classes: int,
    batch_size: int,
    augment: AugmentSpec,
    seed: int,
    initial_epoch: int = 0,
    epochs: int = 1,
) -> tuple[tf.data.Dataset, int]:
    """(dataset, steps per epoch): shuffled, batched (float image, one-hot label) pairs of epochs ``initial_epoch`` to
    ``epochs - 1`` back to back, augmented per image; images stay uint8 until batched. ``images`` is an array, or
    a view whose ``gather(rows)`` reads a batch (:class:`kit.data.LazyRows`: a set larger than the memory budget), which
    gives the same batches, bit for bit.

    Pass both to Keras as ``model.fit(dataset, steps_per_epoch=steps, epochs=epochs, initial_epoch=initial_epoch)``.
    """
    rows, per_epoch = len(images), steps(len(images), batch_size)
    pick = gatherer(images)
    targets = tf.constant(labels)

    @plain
    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        order = tf.data.Dataset.from_tensor_slices(epoch_order(rows, seed, epoch)).batch(batch_size)
        return order.enumerate().map(plain(lambda batch, rows_of_batch: (epoch, batch, rows_of_batch)))

    @plain
    def prepare(epoch: tf.Tensor, batch: tf.Tensor, rows_of_batch: tf.Tensor):
        batch_images = tf.cast(pick(rows_of_batch), tf.float32)
        if augment.enabled:
            batch_images = augment_batch(batch_images, augment, seed, epoch, batch)
        picked = tf.gather(targets, rows_of_batch)  # class indices (one-hot), or a 0/1 multi-label matrix (float)
        return batch_images, tf.one_hot(picked, classes) if labels.ndim == 1 else tf.cast(picked, tf.float32)

    dataset = tf.data.Dataset.range(initial_epoch, max(initial_epoch, epochs)).flat_map(epoch_batches)
    dataset = dataset.map(prepare, num_parallel_calls=usable_cores(), deterministic=True)
    return without_autotune(dataset.prefetch(2)), per_epoch


def augmented_copy(images: np.ndarray, spec: AugmentSpec, seed: int, copy: int, batch_size: int = 1024) -> np.ndarray:
    """Float32 ``images`` augmented as training augments them, with draws from (seed, copy, batch index) alone: copy
    ``copy`` is the same bits on every call (test-time augmentation's copies)."""
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(batch_size).enumerate()
    epoch = tf.constant(copy)
    dataset = without_autotune(
        dataset.map(plain(lambda batch, part: augment_batch(tf.cast(part, tf.float32), spec, seed, epoch, batch)))
    )
    return np.concatenate([part.numpy() for part in dataset]) if len(images) else images.astype(np.float32)


def evaluation_dataset(images: np.ndarray, labels: np.ndarray | None, classes: int, batch_size: int) -> tf.data.Dataset:
    """Batched float images (with one-hot labels when given), in row order."""
    return _evaluation(images, labels, classes, batch_size, repeat=False)


def validation_dataset(
    images: np.ndarray, labels: np.ndarray, classes: int, batch_size: int
) -> tuple[tf.data.Dataset, int]:
    """(dataset, steps): the evaluation batches repeated without end; pass ``validation_steps=steps``. Each pass sees
    exactly the batches of :func:`evaluation_dataset` (Keras still builds a new iterator for every evaluation)."""
    return _evaluation(images, labels, classes, batch_size, repeat=True), steps(len(images), batch_size)


def gatherer(images: Any) -> Callable[[tf.Tensor], tf.Tensor]:
    """How a batch's uint8 images are picked by their rows: from one constant tensor of an array in memory, or, for
    a view with ``gather(rows)`` (:class:`kit.data.LazyRows`), read by it outside the graph, batch by batch."""
    if not hasattr(images, "gather"):
        pixels = tf.constant(images)
        return lambda rows: tf.gather(pixels, rows)
    shape = tuple(images.shape[1:])

    def read(rows: tf.Tensor) -> tf.Tensor:
        picked = tf.numpy_function(images.gather, [rows], tf.uint8, stateful=False, name="read_rows")
        return tf.ensure_shape(picked, (None, *shape))

    return read


def _streamed(images: Any, labels: np.ndarray | None, classes: int, batch_size: int, repeat: bool):
    """The evaluation batches of a view read batch by batch (:func:`gatherer`): the same batches as of an array."""
    count, read = len(images), gatherer(images)
    targets = None if labels is None else tf.constant(labels)
    encode = (lambda y: tf.cast(y, tf.float32)) if labels is not None and labels.ndim == 2 else None

    @plain
    def batch_of(start: tf.Tensor):
        rows = tf.range(start, tf.minimum(start + batch_size, count))
        pixels = tf.cast(read(rows), tf.float32)
        if targets is None:
            return pixels
        picked = tf.gather(targets, rows)
        return pixels, encode(picked) if encode else tf.one_hot(picked, classes)

    dataset = tf.data.Dataset.range(0, count, batch_size)
    dataset = dataset.repeat() if repeat else dataset
    dataset = dataset.map(batch_of, num_parallel_calls=usable_cores(), deterministic=True)
    return without_autotune(dataset.prefetch(2))


def _evaluation(images: np.ndarray, labels: np.ndarray | None, classes: int, batch_size: int, repeat: bool):
    if hasattr(images, "gather"):
        return _streamed(images, labels, classes, batch_size, repeat)
    if labels is None:
        dataset = tf.data.Dataset.from_tensor_slices(images).batch(batch_size)
        dataset = dataset.repeat() if repeat else dataset
        return without_autotune(dataset.map(plain(lambda batch: tf.cast(batch, tf.float32))).prefetch(2))
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
    dataset = dataset.repeat() if repeat else dataset
    multilabel = labels.ndim == 2  # a 0/1 matrix: float targets, not one-hot class indices
    encode = (lambda y: tf.cast(y, tf.float32)) if multilabel else (lambda y: tf.one_hot(y, classes))
    dataset = dataset.map(plain(lambda batch, label: (tf.cast(batch, tf.float32), encode(label))))
    return without_autotune(dataset.prefetch(2))


def steps(rows: int, batch_size: int) -> int:
    """Batches per pass over ``rows`` rows."""
    return math.ceil(rows / batch_size)


def fit_on_pipeline(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    classes: int,
    batch_size: int,
    augment: AugmentSpec,
    seed: int,
    epochs: int,
    callbacks: list,
    initial_epoch: int = 0,
    verbose: int = 0,
) -> keras.callbacks.History:
    """``model.fit`` on :func:`training_dataset` (epochs ``initial_epoch`` to ``epochs - 1`` in one iterator) with the
    repeated :func:`validation_dataset`: the one way kit trains, for cv folds and tune trials alike."""
    dataset, per_epoch = training_dataset(*train, classes, batch_size, augment, seed, initial_epoch, epochs)
    held, held_steps = validation_dataset(*validation, classes, batch_size)
    return model.fit(
        dataset,
        steps_per_epoch=per_epoch,
        validation_data=held,
        validation_steps=held_steps,
        epochs=epochs,
        initial_epoch=initial_epoch,
        callbacks=callbacks,
        shuffle=False,  # the training dataset shuffles itself, by epoch
        verbose=verbose,
    )
