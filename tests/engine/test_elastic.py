"""Elastic distortions (Simard et al. 2003): smooth fields scaled by α, an exact resampler, draws from (seed, epoch,
batch) alone on a stream of their own, off by default (recipes without them augment to the same bits), and the
``augment.elastic`` keys checked at load."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import tensorflow as tf

from kit.engine import (
    affine_transforms,
    apply_transforms,
    augment_batch,
    augmented_copy,
    draw_parameters,
    make_augmenter,
    stream_seed,
    training_dataset,
)
from kit.engine._elastic import ElasticAugment, deform, elastic_fields, gaussian_taps, warp
from kit.engine._pipeline import AUGMENT_STREAM, ELASTIC_STREAM
from kit.errors import KitError
from kit.recipes import AugmentSpec, load_recipe

AFFINE = AugmentSpec(rotation=10.0, zoom=0.1, width_shift=0.1, height_shift=0.1)
ELASTIC = AugmentSpec(rotation=10.0, zoom=0.1, width_shift=0.1, height_shift=0.1, elastic=34.0, elastic_sigma=4.0)
SEED = tf.constant([3, 4], tf.int64)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (12, 28, 28, 1), dtype=np.uint8)


def batch_of(images: np.ndarray, spec: AugmentSpec, seed: int = 3, epoch: int = 0, batch: int = 0) -> np.ndarray:
    floats = tf.constant(images.astype(np.float32))
    return augment_batch(floats, spec, seed, tf.constant(epoch, tf.int64), tf.constant(batch, tf.int64)).numpy()


def neighbour_correlation(field: np.ndarray) -> float:
    return float(np.corrcoef(field[:, :, :-1].ravel(), field[:, :, 1:].ravel())[0, 1])


def test_the_field_is_smooth_and_scales_with_alpha():
    dx, dy = (part.numpy() for part in elastic_fields(8, 28, 28, 10.0, 4.0, SEED))
    assert dx.shape == dy.shape == (8, 28, 28) and dx.dtype == np.float32
    assert neighbour_correlation(dx) > 0.95 and neighbour_correlation(dy.transpose(0, 2, 1)) > 0.95
    assert abs(np.corrcoef(dx.ravel(), dy.ravel())[0, 1]) < 0.2  # the two directions are drawn independently
    rough, _ = elastic_fields(8, 28, 28, 10.0, 0.3, SEED)
    assert neighbour_correlation(rough.numpy()) < 0.5
    doubled, _ = elastic_fields(8, 28, 28, 20.0, 4.0, SEED)
    np.testing.assert_allclose(doubled.numpy(), 2 * dx, rtol=1e-5, atol=1e-6)
    assert 0.5 < dx[:, 8:20, 8:20].std() * 4.0 / 10.0 / 0.163 < 1.5  # RMS about 0.16·α/σ pixels (module doc)


def test_the_gaussian_is_normalised_truncated_at_three_sigma_and_at_the_image():
    taps = gaussian_taps(4.0, 28)
    assert len(taps) == 25 and abs(taps.sum() - 1.0) < 1e-6 and taps.argmax() == 12
    assert len(gaussian_taps(50.0, 28)) == 27 and len(gaussian_taps(4.0, 1)) == 1


def test_zero_displacement_is_the_identity_and_whole_pixels_move_exactly(digits):
    images = tf.constant(digits.astype(np.float32))
    zeros = tf.zeros(digits.shape[:3])
    assert np.array_equal(warp(images, zeros, zeros).numpy(), digits.astype(np.float32))
    right = warp(images, zeros + 1.0, zeros).numpy()  # each pixel reads the one to its right
    assert np.array_equal(right[:, :, :-1], digits[:, :, 1:].astype(np.float32)) and not right[:, :, -1].any()
    down = warp(images, zeros, zeros - 1.0).numpy()  # each pixel reads the one above it
    assert np.array_equal(down[:, 1:], digits[:, :-1].astype(np.float32)) and not down[:, 0].any()
    half = warp(images, zeros + 0.5, zeros).numpy()
    np.testing.assert_allclose(half[:, :, :-1], (digits[:, :, :-1] + digits[:, :, 1:].astype(np.float32)) / 2)


def test_recipes_without_elastic_augment_to_the_same_bits(digits):
    photo = {"flip_horizontal": True, "crop": 0.7, "brightness": 0.2}
    for spec in (AFFINE, dataclasses.replace(AFFINE, **photo), AugmentSpec(**photo)):
        off = dataclasses.replace(spec, elastic=0.0, elastic_sigma=7.0)
        assert off.enabled == spec.enabled and np.array_equal(batch_of(digits, off), batch_of(digits, spec))
    assert not AugmentSpec(elastic=0.0).enabled and make_augmenter(AugmentSpec(elastic_sigma=2.0), 1) is None
    alone = AugmentSpec(elastic=5.0)
    assert alone.enabled and not alone.affine and not alone.photo


def test_draws_come_from_seed_epoch_and_batch_alone_after_the_affine_set(digits):
    first = batch_of(digits, ELASTIC, batch=2)
    assert np.array_equal(first, batch_of(digits, ELASTIC, batch=2))
    assert not np.array_equal(first, batch_of(digits, ELASTIC, batch=3))
    assert not np.array_equal(first, batch_of(digits, ELASTIC, epoch=1, batch=2))
    assert not np.array_equal(first, batch_of(digits, ELASTIC, seed=4, batch=2))
    images = tf.constant(digits.astype(np.float32))
    parameters = draw_parameters(ELASTIC, len(digits), stream_seed(3, AUGMENT_STREAM, 0, 2))
    affined = apply_transforms(images, affine_transforms(parameters, 28, 28), ELASTIC.fill_mode)
    expected = deform(affined, 34.0, 4.0, stream_seed(3, ELASTIC_STREAM, 0, 2)).numpy()
    assert np.array_equal(first, expected)  # the affine draws unmoved; the elastic warp resamples their output


def test_photo_and_elastic_together_stay_in_range(digits):
    spec = AugmentSpec(rotation=10.0, crop=0.6, flip_horizontal=True, contrast=0.3, elastic=20.0, elastic_sigma=3.0)
    out = batch_of(digits, spec)
    assert out.shape == digits.shape and np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 255.0
    assert np.array_equal(out, batch_of(digits, spec)) and not np.array_equal(out, batch_of(digits, spec, batch=1))


def test_the_training_stream_copies_and_distillation_carry_it(digits):
    labels = np.arange(len(digits)) % 10
    dataset, steps = training_dataset(digits, labels, 10, 5, ELASTIC, 7, 0, 2)
    batches = list(dataset.as_numpy_iterator())
    assert steps == 3 and len(batches) == 6
    for images, _ in batches:
        assert np.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 255.0 + 1e-3
    plain, _ = training_dataset(digits, labels, 10, 5, AFFINE, 7, 0, 2)
    assert not np.array_equal(batches[0][0], next(plain.as_numpy_iterator())[0])
    copy = augmented_copy(digits, ELASTIC, 0, 1, batch_size=5)
    assert np.array_equal(copy, augmented_copy(digits, ELASTIC, 0, 1, batch_size=5))
    assert not np.array_equal(copy, augmented_copy(digits, AFFINE, 0, 1, batch_size=5))
    augmenter = make_augmenter(ELASTIC, seed=1)
    assert isinstance(augmenter.layers[-1], ElasticAugment)
    out = augmenter(tf.constant(digits.astype(np.float32)), training=True).numpy()
    assert out.shape == digits.shape and np.isfinite(out).all() and not np.array_equal(out, digits)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("elastic", -1.0, "-1.0 must be ≥ 0.0"),
        ("elastic", 101.0, "101.0 must be ≤ 100.0"),
        ("elastic", "lots", "expected a number, got 'lots'"),
        ("elastic_sigma", 0.0, "0.0 must be > 0.0"),
        ("elastic_sigma", 51.0, "51.0 must be ≤ 50.0"),
    ],
)
def test_a_bad_elastic_key_stops_at_load_with_one_line(tmp_path, key, value, message):
    with pytest.raises(KitError, match=rf"^recipe base: key augment\.{key}: {re.escape(message)}") as error:
        load_recipe("base").with_overrides({f"augment.{key}": value})
    assert "\n" not in str(error.value)
    path = tmp_path / "bad.toml"
    written = f'"{value}"' if isinstance(value, str) else value
    path.write_text(f'extends = "base"\n[augment]\n{key} = {written}\n')
    with pytest.raises(KitError, match=rf"^recipe {re.escape(str(path))}: key augment\.{key}: {re.escape(message)}"):
        load_recipe(str(path))


def test_the_keys_at_their_defaults_leave_the_content_hash_and_the_shipped_recipe():
    turbo = load_recipe("turbo")
    defaults = {"augment.elastic": 0.0, "augment.elastic_sigma": 4.0}
    assert turbo.with_overrides(defaults).content_hash == turbo.content_hash
    assert turbo.with_overrides({"augment.elastic": 1.0}).content_hash != turbo.content_hash
    shipped = turbo.with_overrides({"augment.elastic": 34.0})  # make portfolio-bench's turbo-elastic
    assert (shipped.augment.elastic, shipped.augment.elastic_sigma) == (34.0, 4.0) and shipped.augment.enabled
    assert dataclasses.replace(shipped.augment, elastic=0.0) == turbo.augment  # turbo's affine keys kept
    assert shipped.model == turbo.model and shipped.train == turbo.train
