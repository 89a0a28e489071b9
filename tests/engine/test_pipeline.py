"""The training pipeline: epochs addressable and reproducible bit for bit, augmentation within the recipe's ranges."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kit.engine import (
    affine_transforms,
    apply_transforms,
    augment_batch,
    draw_parameters,
    evaluation_dataset,
    stream_seed,
    training_dataset,
    validation_dataset,
)
from kit.recipes import AugmentSpec

FULL = AugmentSpec(rotation=15.0, zoom=0.2, width_shift=0.1, height_shift=0.15, fill_mode="nearest")
ROWS, BATCH, CLASSES = 70, 16, 70


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (ROWS, 28, 28, 1), dtype=np.uint8)


def batches(images, augment, seed=7, initial_epoch=0, epochs=1, labels=None):
    labels = np.arange(ROWS) if labels is None else labels
    dataset, per_epoch = training_dataset(images, labels, CLASSES, BATCH, augment, seed, initial_epoch, epochs)
    return list(dataset.as_numpy_iterator()), per_epoch


def test_an_epoch_is_the_same_bits_whether_started_at_zero_or_resumed_there(images):
    whole, per_epoch = batches(images, FULL, epochs=4)
    resumed, _ = batches(images, FULL, initial_epoch=2, epochs=4)
    assert per_epoch == 5 and len(whole) == 4 * per_epoch and len(resumed) == 2 * per_epoch
    for (image, label), (again, label_again) in zip(whole[2 * per_epoch :], resumed, strict=True):
        assert image.dtype == np.float32 and np.array_equal(image, again) and np.array_equal(label, label_again)
    assert [len(label) for _, label in whole[:per_epoch]] == [16, 16, 16, 16, 6]


def test_augmentation_off_gives_the_images_of_a_fresh_permutation_every_epoch(images):
    epochs, per_epoch = batches(images, AugmentSpec(), epochs=3)
    orders = []
    for epoch in range(3):
        part = epochs[epoch * per_epoch : (epoch + 1) * per_epoch]
        rows = np.concatenate([label.argmax(axis=1) for _, label in part])
        pictures = np.concatenate([image for image, _ in part])
        assert sorted(rows) == list(range(ROWS))  # every row once
        assert np.array_equal(pictures, images[rows].astype(np.float32))  # identity: no pixel changed
        orders.append(tuple(rows))
    assert len(set(orders)) == 3  # reshuffled every epoch
    other_seed, _ = batches(images, AugmentSpec(), seed=8)
    assert tuple(np.concatenate([label.argmax(axis=1) for _, label in other_seed])) != orders[0]
    same_seed, _ = batches(images, AugmentSpec(), epochs=1)
    assert tuple(np.concatenate([label.argmax(axis=1) for _, label in same_seed])) == orders[0]


def test_augmentation_changes_images_but_keeps_their_labels(images):
    plain, _ = batches(images, AugmentSpec())
    augmented, _ = batches(images, FULL)
    for (image, label), (changed, same_label) in zip(plain, augmented, strict=True):
        assert np.array_equal(label, same_label)
        assert not np.array_equal(image, changed)
        assert changed.min() >= 0.0 and changed.max() <= 255.0


def test_parameters_stay_within_the_recipe_ranges_and_fill_them():
    drawn = {key: value.numpy() for key, value in draw_parameters(FULL, 4000, stream_seed(1, 1, 0, 0)).items()}
    ranges = [("rotation", -15, 15), ("zoom", 0.8, 1.2), ("width_shift", -0.1, 0.1), ("height_shift", -0.15, 0.15)]
    for key, low, high in ranges:
        assert drawn[key].min() >= low and drawn[key].max() <= high, key
        assert drawn[key].min() < low + 0.01 * (high - low) and drawn[key].max() > high - 0.01 * (high - low), key
    independent = np.corrcoef(np.stack([drawn[key] for key in drawn]))
    assert np.abs(independent - np.eye(4)).max() < 0.1
    off = draw_parameters(AugmentSpec(rotation=5.0), 10, stream_seed(1, 1, 0, 0))
    assert np.all(off["zoom"].numpy() == 1.0) and not off["width_shift"].numpy().any()
    assert not off["height_shift"].numpy().any() and np.abs(off["rotation"].numpy()).max() <= 5.0


def moved(pixel: tuple[int, int], size: int = 29, **parameters: float) -> list[tuple[int, int]]:
    """Where one bright pixel of a ``size``² image lands under the given rotation/zoom/shifts."""
    image = np.zeros((1, size, size, 1), np.float32)
    image[0, pixel[0], pixel[1], 0] = 1.0
    values = {"rotation": 0.0, "zoom": 1.0, "width_shift": 0.0, "height_shift": 0.0, **parameters}
    transforms = affine_transforms({key: tf.constant([value], tf.float32) for key, value in values.items()}, size, size)
    out = apply_transforms(tf.constant(image), transforms, "constant").numpy()[0, ..., 0]
    return [tuple(int(i) for i in where) for where in np.argwhere(out > 0.99)]


def test_each_transform_has_the_meaning_of_the_recipe_key():
    assert moved((4, 14)) == [(4, 14)]  # nothing drawn: identity
    assert moved((4, 14), rotation=90.0) == [(14, 4)]  # counter-clockwise about the centre: top goes left
    assert moved((4, 14), rotation=-90.0) == [(14, 24)]
    assert moved((4, 14), width_shift=2 / 29) == [(4, 16)]  # a fraction of the width, in pixels
    assert moved((4, 14), height_shift=-3 / 29) == [(1, 14)]
    assert moved((9, 14), zoom=2.0) == []  # zoom > 1 shows the image smaller: the pixel lands at (11.5, 14), blurred
    assert moved((4, 14), zoom=0.5) == []  # zoom < 1 enlarges: 10 above the centre becomes 20, outside


def test_shifts_alone_only_move_pixels(images):
    digit = np.zeros((8, 28, 28, 1), np.float32)
    digit[:, 8:20, 9:19] = images[:8, 8:20, 9:19]  # content well inside the frame, as in a digit
    batch = tf.constant(digit)
    across = augment_batch(batch, AugmentSpec(width_shift=0.1), 3, tf.constant(0, tf.int64), tf.constant(0, tf.int64))
    across = across.numpy()
    np.testing.assert_allclose(across.sum(axis=2), digit.sum(axis=2), rtol=1e-5, atol=1e-3)  # each row keeps its ink
    assert not np.array_equal(across, digit)
    down = augment_batch(batch, AugmentSpec(height_shift=0.1), 3, tf.constant(0, tf.int64), tf.constant(1, tf.int64))
    np.testing.assert_allclose(down.numpy().sum(axis=1), digit.sum(axis=1), rtol=1e-5, atol=1e-3)  # each column too


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "reflect", "wrap"])
def test_fill_modes(fill_mode):
    flat = tf.fill((4, 28, 28, 1), 7.0)
    spec = AugmentSpec(rotation=30.0, zoom=0.3, width_shift=0.2, height_shift=0.2, fill_mode=fill_mode)
    out = augment_batch(flat, spec, 1, tf.constant(0, tf.int64), tf.constant(0, tf.int64)).numpy()
    if fill_mode == "constant":
        assert (out == 0).any() and (np.abs(out - 7.0) < 1e-4).any()  # the area outside the image is black
    else:
        np.testing.assert_allclose(out, 7.0, rtol=1e-6)  # filled from the image itself


def test_validation_dataset_repeats_the_evaluation_batches(images):
    labels = np.arange(ROWS) % 10
    once = list(evaluation_dataset(images, labels, 10, BATCH).as_numpy_iterator())
    repeated, count = validation_dataset(images, labels, 10, BATCH)
    twice = list(repeated.take(2 * count).as_numpy_iterator())
    assert count == len(once) == 5
    for (image, label), (again, label_again) in zip(once + once, twice, strict=True):
        assert np.array_equal(image, again) and np.array_equal(label, label_again)


PHOTO = AugmentSpec(rotation=10.0, zoom=0.1, flip_horizontal=True, crop=0.5, brightness=0.2, contrast=0.2)


def test_rows_read_from_the_cache_file_give_the_same_batches_bit_for_bit(images, tmp_path):
    from kit.data import LazyRows, reader_of

    coloured = np.repeat(images, 3, axis=-1)
    np.save(tmp_path / "images.npy", coloured)
    mapped = np.load(tmp_path / "images.npy", mmap_mode="r")
    rows = np.arange(ROWS)[::-1]  # a fold's rows, in another order than the file's
    lazy = LazyRows([(reader_of(mapped), rows)])
    labels = np.arange(ROWS) % 10
    for augment in (FULL, PHOTO, AugmentSpec()):
        expected, per_epoch = training_dataset(coloured[rows], labels, 10, BATCH, augment, 5, 1, 3)
        streamed, same_steps = training_dataset(lazy, labels, 10, BATCH, augment, 5, 1, 3)
        assert per_epoch == same_steps
        for (image, label), (again, label_again) in zip(expected, streamed, strict=True):
            assert again.shape[1:] == (28, 28, 3) and np.array_equal(image.numpy(), again.numpy())
            assert np.array_equal(label.numpy(), label_again.numpy())
    multilabel = np.eye(ROWS, 4, dtype=np.uint8)
    for targets, classes in ((labels, 10), (multilabel, 4), (None, 10)):
        expected = list(evaluation_dataset(coloured[rows], targets, classes, BATCH).as_numpy_iterator())
        streamed = list(evaluation_dataset(lazy, targets, classes, BATCH).as_numpy_iterator())
        assert len(expected) == len(streamed) == 5
        for one, other in zip(expected, streamed, strict=True):
            for part, same in zip(*(x if isinstance(x, tuple) else (x,) for x in (one, other)), strict=True):
                assert part.dtype == same.dtype and np.array_equal(part, same)
    repeated, count = validation_dataset(lazy, labels, 10, BATCH)
    assert count == 5 and len(list(repeated.take(2 * count))) == 10
