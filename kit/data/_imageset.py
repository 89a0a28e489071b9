"""Image files to an :class:`~kit.data.ImageSet`: the layout's checked file list, decoded once into a memory-mapped
uint8 cache beside the data (``DATA/.kit-cache``; see :mod:`kit.data._cache`), with its targets, ids and groups, and
the cache's key as its ``source`` (what its fingerprint hashes: no pixel is read for it)."""

from __future__ import annotations

from pathlib import Path

from kit.competitions import Competition
from kit.data._cache import image_cache
from kit.data._filelists import FileList, filename_files, folder_files, folder_test_files
from kit.data._labelcsv import csv_files, csv_test_files
from kit.data._load import ImageSet, Progress
from kit.errors import KitError

CACHE_DIR = ".kit-cache"


def train_files(data_dir: Path, competition: Competition) -> FileList:
    """The checked training images of an image-file competition (see :mod:`kit.data._filelists`)."""
    layouts = {"folders": folder_files, "filename": filename_files, "csv": csv_files}
    return layouts[competition.images.layout](data_dir, competition)


def test_files(data_dir: Path, competition: Competition) -> FileList | None:
    """The test images (None when there are none): for the csv layout with a test CSV (the spec's test file), the
    images its rows name; else the image files of the test folder."""
    if competition.images.layout == "csv" and (Path(data_dir) / competition.test_file).is_file():
        return csv_test_files(data_dir, competition)
    return folder_test_files(data_dir, competition)


def load_image_set(data_dir: Path | str, competition: Competition, part: str, progress: Progress | None) -> ImageSet:
    """The ``part`` ("train" or "test") images of an image-file competition folder."""
    data_dir = Path(data_dir)
    files = train_files(data_dir, competition) if part == "train" else test_files(data_dir, competition)
    if files is None:
        raise KitError(f"{data_dir / competition.images.test}: folder not found; the competition has no test images")
    images, key = image_cache(
        files.paths,
        competition.image_shape,
        competition.images.resize,
        data_dir / CACHE_DIR,
        root=data_dir,
        tag=part,
        progress=progress,
    )
    return ImageSet(images=images, labels=files.labels, ids=files.ids, groups=files.groups, source=key)
