"""Test-time augmentation's copies: a photo recipe's exact flips and quarter turns first, then random draws of its
augmentation; a digit recipe (no flips or turns) keeps the random copies it always had."""

from __future__ import annotations

import numpy as np
import pytest

from kit.engine import augmented_copy
from kit.ensemble._tta import TTA_SEED, VIEWS, augmented_softmax, symmetric_views
from kit.recipes import AugmentSpec, load_recipe

SQUARE = ["flip_horizontal", "flip_vertical", "rotate90", "rotate180", "rotate270", "transpose", "transverse"]


class Recorder:
    """A predictor that keeps every batch it is given and answers a softmax that depends on the pixels."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.seen.append(np.asarray(images, dtype=np.float32))
        logits = self.seen[-1].reshape(len(images), -1)[:, :3] / 50.0
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize(
    ("keys", "views"),
    [
        ({}, []),
        ({"rotation": 10.0, "zoom": 0.1, "crop": 0.5, "hue": 0.1}, []),
        ({"flip_horizontal": True}, ["flip_horizontal"]),
        ({"flip_vertical": True}, ["flip_vertical"]),
        ({"flip_horizontal": True, "flip_vertical": True}, ["flip_horizontal", "flip_vertical", "rotate180"]),
        ({"rotate90": True}, ["rotate90", "rotate180", "rotate270"]),
        ({"rotate90": True, "flip_horizontal": True}, SQUARE),
        ({"rotate90": True, "flip_vertical": True}, SQUARE),
    ],
)
def test_the_views_are_the_symmetries_the_recipe_s_flips_and_turns_reach(keys, views):
    assert symmetric_views(AugmentSpec(**keys)) == views


def test_the_views_are_exact_and_distinct():
    image = np.arange(16, dtype=np.uint8).reshape(1, 4, 4, 1)
    expected = {
        "flip_horizontal": np.fliplr(image[0]),
        "flip_vertical": np.flipud(image[0]),
        "rotate90": np.rot90(image[0]),
        "rotate180": np.rot90(image[0], 2),
        "rotate270": np.rot90(image[0], 3),
        "transpose": image[0].transpose(1, 0, 2),
        "transverse": np.fliplr(np.rot90(image[0])),  # the anti-diagonal mirror
    }
    for name, view in VIEWS.items():
        assert np.array_equal(view(image)[0], expected[name]), name
    assert len({view(image).tobytes() for view in VIEWS.values()} | {image.tobytes()}) == 8


def test_a_photo_recipe_averages_its_flip_first_then_random_copies():
    spec = load_recipe("photo").augment
    images = np.random.default_rng(5).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    recorder = Recorder()
    mean = augmented_softmax(recorder, images, spec, copies=3)
    expected = [images, images[:, :, ::-1], *(augmented_copy(images, spec, TTA_SEED, copy) for copy in (0, 1))]
    assert len(recorder.seen) == 4
    for seen, wanted in zip(recorder.seen, expected, strict=True):
        assert np.array_equal(seen, wanted.astype(np.float32))
    np.testing.assert_allclose(mean, np.mean([Recorder()(view) for view in expected], axis=0), rtol=1e-6)
    assert len({seen.tobytes() for seen in recorder.seen}) == 4


def test_fewer_copies_than_views_take_the_first_views():
    spec = AugmentSpec(rotate90=True, flip_horizontal=True, brightness=0.2)
    images = np.random.default_rng(6).integers(0, 256, (3, 5, 5, 1), dtype=np.uint8)
    recorder = Recorder()
    augmented_softmax(recorder, images, spec, copies=2)
    assert [seen.tobytes() for seen in recorder.seen] == [
        images.astype(np.float32).tobytes(),
        images[:, :, ::-1].astype(np.float32).tobytes(),
        images[:, ::-1].astype(np.float32).tobytes(),
    ]
    recorder = Recorder()
    augmented_softmax(recorder, images, spec, copies=9)  # 7 exact views, then 2 random copies
    assert np.array_equal(recorder.seen[8], augmented_copy(images, spec, TTA_SEED, 0))
    assert np.array_equal(recorder.seen[9], augmented_copy(images, spec, TTA_SEED, 1))


@pytest.mark.parametrize("name", ["deotte", "fast"])
def test_a_digit_recipe_keeps_today_s_random_copies(name):
    spec = load_recipe(name).augment
    images = np.random.default_rng(7).integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    recorder = Recorder()
    mean = augmented_softmax(recorder, images, spec, copies=2)
    expected = [images.astype(np.float32), *(augmented_copy(images, spec, TTA_SEED, copy) for copy in (0, 1))]
    assert all(np.array_equal(seen, want) for seen, want in zip(recorder.seen, expected, strict=True))
    np.testing.assert_allclose(mean, np.mean([Recorder()(view) for view in expected], axis=0), rtol=1e-6)
