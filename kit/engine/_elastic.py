"""Elastic distortions (Simard, Steinkraus & Platt 2003, "Best practices for convolutional neural networks applied to
visual document analysis"), as stateless batch-wise TensorFlow that runs inside ``tf.data`` map functions.

Each image gets its own random displacement field: uniform(−1, 1) per pixel and direction, smoothed by a normalised
Gaussian of σ pixels (truncated at 3σ and at the image size, zero beyond the edges) and scaled by α pixels; the image
is then resampled bilinearly at (x + dx, y + dy), 0 where that falls outside. With the normalised Gaussian the field's
RMS displacement is about 0.16·α/σ pixels per direction (Simard's α = 34, σ = 4 on 28×28 digits: about 1.4 pixels).
Every random number comes from one stateless draw keyed by the caller's seed, so a batch is the same bits whenever it
is made.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from kit.engine._photo import RNG

TRUNCATE = 3.0  # the Gaussian's taps reach 3σ either side (and no further than the image)


def gaussian_taps(sigma: float, size: int) -> np.ndarray:
    """The normalised 1-D Gaussian of ``sigma`` pixels truncated at :data:`TRUNCATE` σ, at most ``size`` taps."""
    radius = min(math.ceil(TRUNCATE * sigma), (size - 1) // 2)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def elastic_fields(
    count: int | tf.Tensor, height: int, width: int, alpha: float, sigma: float, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """(dx, dy), each (count, height, width) float32: per-image displacements in pixels drawn from the stateless
    ``seed`` (shape [2]), uniform(−1, 1), smoothed by a separable Gaussian of ``sigma`` pixels (SAME padding with
    zeros) and multiplied by ``alpha``."""
    shape = tf.stack([tf.cast(count, tf.int32), height, width, 2])
    field = tf.random.stateless_uniform(shape, seed=seed, minval=-1.0, maxval=1.0, alg=RNG)
    down, across = gaussian_taps(sigma, height), gaussian_taps(sigma, width)
    column = tf.constant(np.tile(down.reshape(-1, 1, 1, 1), (1, 1, 2, 1)))  # (taps, 1, 2 channels, 1)
    row = tf.constant(np.tile(across.reshape(1, -1, 1, 1), (1, 1, 2, 1)))  # (1, taps, 2 channels, 1)
    field = tf.nn.depthwise_conv2d(field, column, strides=[1, 1, 1, 1], padding="SAME")
    field = tf.nn.depthwise_conv2d(field, row, strides=[1, 1, 1, 1], padding="SAME") * alpha
    return field[..., 0], field[..., 1]


def warp(images: tf.Tensor, dx: tf.Tensor, dy: tf.Tensor) -> tf.Tensor:
    """Float ``images`` (batch, height, width, channels) resampled bilinearly at (column + ``dx``, row + ``dy``),
    ``dx`` and ``dy`` (batch, height, width) in pixels; a neighbour outside the image counts as 0. Whole-pixel
    displacements move pixels exactly (zero displacement is the identity)."""
    shape = tf.shape(images)
    count, height, width = shape[0], shape[1], shape[2]
    columns = tf.cast(tf.range(width), dx.dtype)[tf.newaxis, tf.newaxis, :] + dx
    rows = tf.cast(tf.range(height), dy.dtype)[tf.newaxis, :, tf.newaxis] + dy
    left, top = tf.floor(columns), tf.floor(rows)
    right_share, bottom_share = columns - left, rows - top
    left, top = tf.cast(left, tf.int32), tf.cast(top, tf.int32)
    pixels = tf.reshape(images, tf.stack([-1, shape[3]]))
    first = tf.range(count)[:, tf.newaxis, tf.newaxis] * (height * width)

    def neighbour(row: tf.Tensor, column: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
        inside = (row >= 0) & (row < height) & (column >= 0) & (column < width)
        index = first + tf.clip_by_value(row, 0, height - 1) * width + tf.clip_by_value(column, 0, width - 1)
        weight = tf.cast(tf.where(inside, weight, tf.zeros_like(weight)), images.dtype)
        return tf.gather(pixels, index) * weight[..., tf.newaxis]

    return (
        neighbour(top, left, (1.0 - right_share) * (1.0 - bottom_share))
        + neighbour(top, left + 1, right_share * (1.0 - bottom_share))
        + neighbour(top + 1, left, (1.0 - right_share) * bottom_share)
        + neighbour(top + 1, left + 1, right_share * bottom_share)
    )


def deform(
    images: tf.Tensor, alpha: float, sigma: float, seed: tf.Tensor, size: tuple[int, int] | None = None
) -> tf.Tensor:
    """Float ``images`` (batch, height, width, channels) elastically distorted by fields drawn from ``seed``; ``size``
    is their (height, width) where the static shape does not say it (after a resample in a graph)."""
    height, width = size or (images.shape[1], images.shape[2])
    dx, dy = elastic_fields(tf.shape(images)[0], height, width, alpha, sigma, seed)
    return warp(images, dx, dy)


class ElasticAugment(keras.layers.Layer):
    """Elastic distortion of strength ``alpha`` and smoothness ``sigma`` (pixels) as a Keras layer, its draws seeded
    from a Keras seed generator (distillation)."""

    def __init__(self, alpha: float, sigma: float, seed: int, **options) -> None:
        super().__init__(**options)
        self.alpha, self.sigma, self.generator = alpha, sigma, keras.random.SeedGenerator(seed)

    def call(self, images: tf.Tensor, training: bool = True) -> tf.Tensor:
        if not training:
            return images
        seed = keras.random.randint((2,), 0, 2**31 - 1, seed=self.generator, dtype="int32")
        return deform(images, self.alpha, self.sigma, tf.cast(seed, tf.int64))
