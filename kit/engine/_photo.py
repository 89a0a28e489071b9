"""The photo augmentations of a recipe's ``[augment]`` table, as stateless batch-wise TensorFlow: mirror flips, turns
by multiples of 90°, random resized crops and colour jitter (brightness, contrast, saturation, hue).

Every random number comes from ONE stateless draw of shape (images, :data:`COLUMNS`) keyed by a seed the caller
derives from (seed, epoch, batch index), so a batch is the same bits whenever it is made, and a key switched on or
off never moves another key's draws. Images are float pixels in 0..255 (channels last), as in the pipeline.

A crop is a transform row like :func:`kit.engine._pipeline.affine_transforms`' (output to input pixel indices), so
the pipeline composes it with the affine set into one resample; flips and 90° turns move pixels exactly.
"""

from __future__ import annotations

import math

import tensorflow as tf

from kit.errors import KitError
from kit.recipes import AugmentSpec

RNG = "philox"  # the same stateless random bits on every device (auto_select would pick per device)
DRAWS = ("flip_horizontal", "flip_vertical", "rotate90", "area", "aspect", "left", "top")
COLOURS = ("brightness", "contrast", "saturation", "hue")
COLUMNS = (*DRAWS, *COLOURS)  # one uniform [0, 1) column per entry, always all drawn
ASPECT = (3 / 4, 4 / 3)  # a crop's width / height in pixels, as torchvision's RandomResizedCrop
LUMA = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights
TOP = 255.0  # the pipeline's pixel range is 0..255


def check_images(spec: AugmentSpec, shape: tuple[int | None, ...]) -> None:
    """A one-line error when ``spec`` cannot augment images of ``shape`` (batch, height, width, channels)."""
    problem = spec.image_problem(tuple(shape[1:3]))
    if problem:
        raise KitError(problem)


def draw_photo_parameters(spec: AugmentSpec, count: int | tf.Tensor, seed: tf.Tensor) -> dict[str, tf.Tensor]:
    """Per-image photo parameters from one stateless seed: flips (bool), quarter turns ``rotate90`` (0..3, counter-
    clockwise), the crop's ``area`` share, log ``aspect`` offset from the image's own and ``left``/``top`` position
    (0..1 of the room left), and the colour factors (1 = unchanged) and ``hue`` shift (fraction of the circle)."""
    uniform = tf.random.stateless_uniform(tf.stack([count, len(COLUMNS)]), seed=seed, alg=RNG)
    column = {name: uniform[:, index] for index, name in enumerate(COLUMNS)}
    crop = 1.0 if spec.crop is None else spec.crop
    factors = {name: 1.0 + (2.0 * column[name] - 1.0) * value for name, value in zip(COLOURS[:3], spec.colour)}
    return {
        "flip_horizontal": (column["flip_horizontal"] < 0.5) & spec.flip_horizontal,
        "flip_vertical": (column["flip_vertical"] < 0.5) & spec.flip_vertical,
        "rotate90": tf.minimum(tf.cast(column["rotate90"] * 4.0, tf.int32), 3) * int(spec.rotate90),
        "area": crop + column["area"] * (1.0 - crop),
        "aspect": column["aspect"],
        "left": column["left"],
        "top": column["top"],
        **factors,
        "hue": (2.0 * column["hue"] - 1.0) * spec.hue,
    }


def crop_transforms(parameters: dict[str, tf.Tensor], height: int, width: int) -> tf.Tensor:
    """One transform row per image mapping output pixel indices into its crop box: ``area`` of the image, aspect
    ratio (pixels) within :data:`ASPECT` where the box fits, corners on pixel centres, so a whole-image box (area 1)
    is the identity exactly and no sample falls outside the image."""
    area = parameters["area"]
    log_area = tf.math.log(area)
    own = math.log(width / height)  # the ratio offset t: width share sqrt(area·e^t), height share sqrt(area·e^-t)
    low = tf.minimum(tf.maximum(math.log(ASPECT[0]) - own, log_area), -log_area)  # the box must fit the image
    high = tf.minimum(tf.maximum(math.log(ASPECT[1]) - own, log_area), -log_area)
    offset = low + parameters["aspect"] * (high - low)
    width_share = tf.minimum(tf.sqrt(area * tf.exp(offset)), 1.0)
    height_share = tf.minimum(tf.sqrt(area * tf.exp(-offset)), 1.0)
    left = parameters["left"] * (1.0 - width_share) * (width - 1)
    top = parameters["top"] * (1.0 - height_share) * (height - 1)
    zeros = tf.zeros_like(area)
    return tf.stack([width_share, zeros, left, zeros, height_share, top, zeros, zeros], axis=1)


def compose_transforms(outer: tf.Tensor, inner: tf.Tensor) -> tf.Tensor:
    """Affine transform rows that apply ``inner`` (output to intermediate pixels), then ``outer`` (to input pixels)."""
    a0, a1, a2, b0, b1, b2 = (outer[:, index : index + 1] for index in range(6))
    x, y = inner[:, 0:3], inner[:, 3:6]
    first, second = a0 * x + a1 * y, b0 * x + b1 * y
    shift = tf.constant([0.0, 0.0, 1.0])
    return tf.concat([first + a2 * shift, second + b2 * shift, tf.zeros_like(inner[:, 6:8])], axis=1)


def flip_and_turn(images: tf.Tensor, parameters: dict[str, tf.Tensor], spec: AugmentSpec) -> tf.Tensor:
    """``images`` mirrored left-right, top-bottom and turned counter-clockwise by quarter turns, as drawn (exact)."""

    def where(chosen: tf.Tensor, changed: tf.Tensor, kept: tf.Tensor) -> tf.Tensor:
        return tf.where(tf.reshape(chosen, [-1, 1, 1, 1]), changed, kept)

    if spec.flip_horizontal:
        images = where(parameters["flip_horizontal"], tf.reverse(images, axis=[2]), images)
    if spec.flip_vertical:
        images = where(parameters["flip_vertical"], tf.reverse(images, axis=[1]), images)
    if spec.rotate90:
        turns = parameters["rotate90"]
        turned = images
        for quarter in (1, 2, 3):
            turned = where(turns == quarter, tf.image.rot90(images, quarter), turned)
        images = turned
    return images


def jitter_colours(images: tf.Tensor, parameters: dict[str, tf.Tensor], spec: AugmentSpec) -> tf.Tensor:
    """Brightness, contrast, saturation and hue changed as drawn, in that order, each clipped to 0..255. On 1 or 2
    channels (grey, grey + alpha) the first is the colour; on 3 or 4, the first three (RGB); the rest stay."""
    colours = 3 if images.shape[-1] >= 3 else 1
    colour, rest = images[..., :colours], images[..., colours:]

    def per_image(values: tf.Tensor) -> tf.Tensor:
        return tf.reshape(values, [-1, 1, 1, 1])

    def grey(values: tf.Tensor) -> tf.Tensor:
        return values if colours == 1 else tf.reduce_sum(values * tf.constant(LUMA), axis=-1, keepdims=True)

    def clipped(values: tf.Tensor) -> tf.Tensor:
        return tf.clip_by_value(values, 0.0, TOP)

    if spec.brightness:
        colour = clipped(colour * per_image(parameters["brightness"]))
    if spec.contrast:
        mean = tf.reduce_mean(grey(colour), axis=[1, 2, 3], keepdims=True)
        factor = per_image(parameters["contrast"])
        colour = clipped(factor * colour + (1.0 - factor) * mean)
    if colours == 3 and spec.saturation:
        factor = per_image(parameters["saturation"])
        colour = clipped(factor * colour + (1.0 - factor) * grey(colour))
    if colours == 3 and spec.hue:
        hsv = tf.image.rgb_to_hsv(colour / TOP)
        hue = tf.math.floormod(hsv[..., :1] + per_image(parameters["hue"]), 1.0)
        colour = clipped(tf.image.hsv_to_rgb(tf.concat([hue, hsv[..., 1:]], axis=-1)) * TOP)
    return tf.concat([colour, rest], axis=-1) if colours < images.shape[-1] else colour
