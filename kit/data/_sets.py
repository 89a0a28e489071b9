"""Which loader reads a competition's images: pixel CSVs (:mod:`kit.data._load`) or image files decoded once into a
cache (:mod:`kit.data._imageset`)."""

from __future__ import annotations

from pathlib import Path

from kit.competitions import Competition
from kit.data._imageset import load_image_set
from kit.data._load import ImageSet, Progress, data_file, read_images


def load_train(data_dir: Path | str, competition: Competition, progress: Progress | None = None) -> ImageSet:
    """The labelled training images of a competition folder (image files decoded once into a cache: ``progress``
    hears ``(done, total)`` while they decode)."""
    if competition.images is not None:
        return load_image_set(data_dir, competition, "train", progress)
    return read_images(data_file(data_dir, competition, "train", competition.train_file), competition, labelled=True)


def load_test(data_dir: Path | str, competition: Competition, progress: Progress | None = None) -> ImageSet:
    """The unlabelled test images of a competition folder."""
    if competition.images is not None:
        return load_image_set(data_dir, competition, "test", progress)
    return read_images(data_file(data_dir, competition, "test", competition.test_file), competition, labelled=False)


def has_test(data_dir: Path | str, competition: Competition) -> bool:
    """Whether the competition folder holds test images (a test file, or a test image folder)."""
    if competition.images is not None:
        test_csv = competition.images.layout == "csv" and (Path(data_dir) / competition.test_file).is_file()
        return test_csv or (Path(data_dir) / competition.images.test).is_dir()
    return (Path(data_dir) / competition.test_file).is_file()
