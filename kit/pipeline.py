"""tf.data input pipelines with on-graph augmentation by Keras preprocessing layers."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from kit.recipes import AugmentSpec


def make_augmenter(spec: AugmentSpec, seed: int) -> keras.Sequential | None:
    """Random rotation, zoom and shift layers matching ImageDataGenerator's ranges, or None if off."""
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
    return keras.Sequential(stack, name="augment")


def training_dataset(
    images: np.ndarray, labels: np.ndarray, classes: int, batch_size: int, augment: AugmentSpec, seed: int
) -> tf.data.Dataset:
    """Shuffled, batched (float image, one-hot label) pairs, augmented per batch; images stay uint8 until batched."""
    augmenter = make_augmenter(augment, seed)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(batch_size)

    def prepare(batch_images, batch_labels):
        batch_images = tf.cast(batch_images, tf.float32)
        if augmenter is not None:
            batch_images = augmenter(batch_images, training=True)
        return batch_images, tf.one_hot(batch_labels, classes)

    # One batch at a time: the augmentation layers draw from a seed variable, so parallel calls would draw in a
    # varying order and make folds irreproducible. Prefetching still overlaps augmentation with training.
    return dataset.map(prepare).prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(images: np.ndarray, labels: np.ndarray | None, classes: int, batch_size: int) -> tf.data.Dataset:
    """Batched float images (with one-hot labels when given), in row order."""
    if labels is None:
        dataset = tf.data.Dataset.from_tensor_slices(images).batch(batch_size)
        return dataset.map(lambda batch: tf.cast(batch, tf.float32)).prefetch(tf.data.AUTOTUNE)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
    return dataset.map(lambda batch, label: (tf.cast(batch, tf.float32), tf.one_hot(label, classes))).prefetch(
        tf.data.AUTOTUNE
    )


def steps(rows: int, batch_size: int) -> int:
    """Batches per pass over ``rows`` rows."""
    return math.ceil(rows / batch_size)
