"""The photo augmentations (flips, quarter turns, resized crops, colour jitter): exact on known images, within range,
drawn from (seed, epoch, batch) alone, and absent from recipes that do not ask for them, which augment to the very
bits they did before the photo keys existed."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import tensorflow as tf

from kit.engine import (
    PhotoAugment,
    affine_transforms,
    apply_transforms,
    augment_batch,
    augmented_copy,
    crop_transforms,
    draw_parameters,
    draw_photo_parameters,
    jitter_colours,
    make_augmenter,
    stream_seed,
    training_dataset,
)
from kit.engine._pipeline import AUGMENT_STREAM, PHOTO_STREAM
from kit.errors import KitError
from kit.recipes import AugmentSpec, load_recipe

PHOTO = AugmentSpec(
    flip_horizontal=True, flip_vertical=True, rotate90=True, crop=0.3, brightness=0.4, contrast=0.4, saturation=0.5
)
EVERYTHING = AugmentSpec(rotation=20.0, zoom=0.1, width_shift=0.1, flip_horizontal=True, crop=0.5, hue=0.2)


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def batch_of(images: np.ndarray, spec: AugmentSpec, seed: int = 3, epoch: int = 0, batch: int = 0) -> np.ndarray:
    floats = tf.constant(images.astype(np.float32))
    return augment_batch(floats, spec, seed, tf.constant(epoch, tf.int64), tf.constant(batch, tf.int64)).numpy()


def drawn(spec: AugmentSpec, count: int, seed: int = 3, epoch: int = 0, batch: int = 0) -> dict[str, np.ndarray]:
    parameters = draw_photo_parameters(spec, count, stream_seed(seed, PHOTO_STREAM, epoch, batch))
    return {name: value.numpy() for name, value in parameters.items()}


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    return np.random.default_rng(4).integers(0, 256, (24, 8, 8, 3), dtype=np.uint8)


# ------------------------------------------------------------------- recipes without photo keys: the same bits


DIGITS = np.random.default_rng(0).integers(0, 256, (40, 28, 28, 1), dtype=np.uint8)
# Recorded with the code as it was before the photo keys existed (augmented_copy with batch 16, copies 0 and 3; the
# training stream of seed 5, epochs 1 and 2, batch 16, labels arange(40) % 10).
BEFORE = {
    "deotte": (
        "da64924e2475a0ef859e160103a4c4068f3a5756bf89f2cb2b78b07b5b9e75ee",
        "581421c100766fa789889e07b88ad123835923adf99f30b63a7a20788f72d2ab",
        "9c026c9e0f58136eec7abfb4b09a7b25e654d172d97c0ced6b4ac6d84e159c48",
    ),
    "fast": (
        "35974536ab87338c2b805ba0a59f767dfab9f58965f92c8cf999f3fe6f185084",
        "71d8c6895978f21fccb4397c4985a637812deebaafcfb6bdace10972067a7994",
        "d54f10a84934488bc73089319a0c649a16532f712e60a87ee09ba5d8e697ac22",
    ),
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_digit_recipes_augment_to_the_bits_they_did_before_the_photo_keys(name):
    spec = load_recipe(name).augment
    assert spec.affine and not spec.photo
    copies = [digest(augmented_copy(DIGITS, spec, 0, copy, batch_size=16)) for copy in (0, 3)]
    dataset, _ = training_dataset(DIGITS, np.arange(40) % 10, 10, 16, spec, 5, 1, 3)
    stream = digest(np.concatenate([images for images, _ in dataset.as_numpy_iterator()]))
    assert (*copies, stream) == BEFORE[name]


def test_without_photo_keys_a_batch_is_the_affine_resample_alone():
    spec = load_recipe("deotte").augment
    seed, epoch, batch = 9, tf.constant(2, tf.int64), tf.constant(1, tf.int64)
    images = tf.constant(DIGITS[:16].astype(np.float32))
    parameters = draw_parameters(spec, 16, stream_seed(seed, AUGMENT_STREAM, epoch, batch))
    alone = apply_transforms(images, affine_transforms(parameters, 28, 28), spec.fill_mode).numpy()
    assert np.array_equal(augment_batch(images, spec, seed, epoch, batch).numpy(), alone)


# ------------------------------------------------------------------------------------------- determinism


def test_a_photo_batch_depends_on_seed_epoch_and_batch_alone(photos):
    spec = EVERYTHING
    first = batch_of(photos, spec)
    assert np.array_equal(first, batch_of(photos, spec))
    for other in ({"epoch": 1}, {"batch": 1}, {"seed": 4}):
        assert not np.array_equal(first, batch_of(photos, spec, **other)), other


def test_a_resumed_photo_stream_is_the_same_bits(photos):
    def stream(initial_epoch: int) -> list[np.ndarray]:
        dataset, _ = training_dataset(photos, np.arange(24) % 3, 3, 10, PHOTO, 7, initial_epoch, 3)
        return [images for images, _ in dataset.as_numpy_iterator()]

    whole, resumed = stream(0), stream(2)
    assert len(whole) == 9 and len(resumed) == 3
    assert all(np.array_equal(a, b) for a, b in zip(whole[6:], resumed, strict=True))
    assert not np.array_equal(whole[0], whole[3])  # another epoch, other draws


def test_switching_a_key_on_moves_no_other_key_s_draws():
    alone = drawn(AugmentSpec(flip_horizontal=True), 50)
    together = drawn(AugmentSpec(flip_horizontal=True, crop=0.5, hue=0.1), 50)
    assert np.array_equal(alone["flip_horizontal"], together["flip_horizontal"])
    assert 10 < alone["flip_horizontal"].sum() < 40 and not drawn(AugmentSpec(), 50)["flip_horizontal"].any()


# ---------------------------------------------------------------------------- correctness on known images


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("flip_horizontal", lambda image, draws, i: np.fliplr(image) if draws["flip_horizontal"][i] else image),
        ("flip_vertical", lambda image, draws, i: np.flipud(image) if draws["flip_vertical"][i] else image),
        ("rotate90", lambda image, draws, i: np.rot90(image, draws["rotate90"][i])),
    ],
)
def test_flips_and_quarter_turns_move_pixels_exactly_as_numpy(key, expected):
    image = np.arange(16, dtype=np.uint8).reshape(4, 4, 1) * 10
    images = np.repeat(image[None], 32, axis=0)
    spec = AugmentSpec(**{key: True})
    out, draws = batch_of(images, spec), drawn(spec, 32)
    for index in range(32):
        assert np.array_equal(out[index], expected(image, draws, index).astype(np.float32)), index
    seen = {out[index].tobytes() for index in range(32)}
    assert len(seen) == (4 if key == "rotate90" else 2)  # every choice is drawn


@pytest.mark.parametrize("shape", [(8, 8, 3), (5, 7, 1), (6, 4, 3)])
def test_a_crop_of_the_whole_area_is_the_identity(shape):
    images = np.random.default_rng(1).integers(0, 256, (6, *shape), dtype=np.uint8)
    assert np.array_equal(batch_of(images, AugmentSpec(crop=1.0)), images.astype(np.float32))


def test_a_crop_resamples_its_box_to_the_whole_image():
    ramp = np.tile(np.arange(9, dtype=np.float32) * 10, (9, 1))[None, :, :, None]  # value = 10 · column
    parameters = {"area": tf.constant([0.25]), "aspect": tf.constant([0.5]), "left": tf.constant([0.0])}
    parameters["top"] = tf.constant([1.0])
    row = crop_transforms(parameters, 9, 9).numpy()[0]
    np.testing.assert_allclose(row, [0.5, 0, 0, 0, 0.5, 4.0, 0, 0], atol=1e-6)  # half of each side, at the bottom
    out = apply_transforms(tf.constant(ramp), tf.constant(row[None]), "constant").numpy()[0, :, :, 0]
    np.testing.assert_allclose(out, np.tile(np.arange(9) * 5.0, (9, 1)), atol=1e-4)  # columns 0..4, stretched


def test_crops_keep_their_area_aspect_and_stay_inside_the_image():
    spec = AugmentSpec(crop=0.1)
    for height, width in ((32, 32), (24, 40)):
        draws = draw_photo_parameters(spec, 2000, stream_seed(1, PHOTO_STREAM, 0, 0))
        rows = crop_transforms(draws, height, width).numpy()
        shares_x, shares_y = rows[:, 0], rows[:, 4]
        np.testing.assert_allclose(shares_x * shares_y, draws["area"].numpy(), rtol=1e-5)
        assert draws["area"].numpy().min() >= 0.1 and shares_x.max() <= 1 and shares_y.max() <= 1
        aspect = shares_x * width / (shares_y * height)
        area = draws["area"].numpy()
        fits = (area <= 4 * height / (3 * width)) & (area <= 4 * width / (3 * height))  # a box of ratio 3/4..4/3 fits
        assert fits.mean() > 0.5
        assert aspect[fits].min() >= 3 / 4 - 1e-4 and aspect[fits].max() <= 4 / 3 + 1e-4
        assert rows[:, 2].min() >= 0 and (rows[:, 2] + shares_x * (width - 1)).max() <= width - 1 + 1e-3
        assert rows[:, 5].min() >= 0 and (rows[:, 5] + shares_y * (height - 1)).max() <= height - 1 + 1e-3


def test_colour_jitter_at_neutral_draws_is_the_identity(photos):
    floats = tf.constant(photos.astype(np.float32))
    neutral = {name: tf.ones(24) for name in ("brightness", "contrast", "saturation")} | {"hue": tf.zeros(24)}
    spec = AugmentSpec(brightness=0.5, contrast=0.5, saturation=0.5)
    assert np.array_equal(jitter_colours(floats, neutral, spec).numpy(), photos.astype(np.float32))
    with_hue = jitter_colours(floats, neutral, AugmentSpec(hue=0.3)).numpy()
    np.testing.assert_allclose(with_hue, photos, atol=1e-3)  # through HSV and back
    assert np.array_equal(batch_of(photos, AugmentSpec(brightness=0.0)), photos.astype(np.float32))


def test_colour_jitter_follows_torchvision_s_formulas_and_stays_in_range(photos):
    floats = tf.constant(photos.astype(np.float32))
    spec = AugmentSpec(brightness=1.0, contrast=1.0, saturation=1.0, hue=0.5)
    factors = {"brightness": tf.fill([24], 1.8), "contrast": tf.fill([24], 0.5), "saturation": tf.fill([24], 0.0)}
    factors["hue"] = tf.fill([24], 0.25)
    only = {name: AugmentSpec(**{name: 1.0 if name != "hue" else 0.5}) for name in factors}
    brighter = jitter_colours(floats, factors, only["brightness"]).numpy()
    assert np.array_equal(brighter, np.clip(photos * np.float32(1.8), 0, 255))
    grey = (photos.astype(np.float32) * np.array([0.2989, 0.587, 0.114], np.float32)).sum(-1, keepdims=True)
    flat = jitter_colours(floats, factors, only["contrast"]).numpy()
    np.testing.assert_allclose(flat, 0.5 * photos + 0.5 * grey.mean(axis=(1, 2, 3), keepdims=True), atol=1e-3)
    washed = jitter_colours(floats, factors, only["saturation"]).numpy()
    np.testing.assert_allclose(washed, np.repeat(grey, 3, axis=-1), atol=1e-3)
    turned = jitter_colours(floats, factors, only["hue"]).numpy()
    np.testing.assert_allclose(turned / 255, tf.image.adjust_hue(floats / 255, 0.25).numpy(), atol=1e-4)
    everything = batch_of(photos, spec)
    assert everything.min() >= 0 and everything.max() <= 255 and not np.array_equal(everything, photos)


def test_saturation_and_hue_leave_greyscale_alone_and_alpha_stays():
    grey = np.random.default_rng(2).integers(0, 256, (10, 6, 6, 1), dtype=np.uint8)
    assert np.array_equal(batch_of(grey, AugmentSpec(saturation=1.0, hue=0.5)), grey.astype(np.float32))
    assert not np.array_equal(batch_of(grey, AugmentSpec(brightness=0.5)), grey.astype(np.float32))
    rgba = np.random.default_rng(3).integers(0, 256, (10, 6, 6, 4), dtype=np.uint8)
    jittered = batch_of(rgba, AugmentSpec(brightness=0.5, saturation=0.5, hue=0.2))
    assert np.array_equal(jittered[..., 3], rgba[..., 3]) and not np.array_equal(jittered[..., :3], rgba[..., :3])


def test_quarter_turns_of_images_that_are_not_square_stop_with_one_line():
    with pytest.raises(KitError, match=r"^key augment\.rotate90: turning by 90° needs square images, got 4×6;"):
        augmented_copy(np.zeros((2, 4, 6, 3), np.uint8), AugmentSpec(rotate90=True), 0, 0)
    with pytest.raises(KitError, match=r"^key augment\.rotate90: .* got 6×4;") as error:
        training_dataset(np.zeros((4, 6, 4, 1), np.uint8), np.zeros(4, int), 2, 2, AugmentSpec(rotate90=True), 0)
    assert "\n" not in str(error.value)


def test_distillation_s_augmenter_carries_the_photo_keys(photos):
    augmenter = make_augmenter(AugmentSpec(rotation=5.0, flip_horizontal=True, crop=0.5, hue=0.1), seed=1)
    assert isinstance(augmenter.layers[-1], PhotoAugment)
    out = augmenter(tf.constant(photos.astype(np.float32)), training=True).numpy()
    assert out.shape == photos.shape and out.min() >= 0 and out.max() <= 255 and not np.array_equal(out, photos)
    assert make_augmenter(AugmentSpec(flip_vertical=True), seed=1).layers[0].__class__ is PhotoAugment
