"""Image-file layouts to checked file lists: which file is which image, with its class (or labels), id and group.

Three layouts (:class:`kit.competitions.ImageFiles`): one folder per class, a labels CSV naming the images through a
pattern, and the label in the file name. Test images are the image files of the test folder. Every problem is one
line naming the file (and the line of the CSV) and the fix, found before any image is decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Formatter

import numpy as np
import pandas as pd

from kit.competitions import Competition
from kit.data._images import IMAGE_SUFFIXES
from kit.errors import KitError


@dataclass(frozen=True)
class FileList:
    """Image files in row order, their ids, targets (class indices, a 0/1 matrix for multi-label, None for test)
    and groups (None without a group column)."""

    paths: tuple[Path, ...]
    ids: np.ndarray
    labels: np.ndarray | None
    groups: np.ndarray | None = None


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _folder(data_dir: Path, name: str, key: str, competition: Competition) -> Path:
    folder = Path(data_dir) / name
    if not folder.is_dir():
        raise KitError(
            f"{folder}: folder not found; set key images.{key} in {competition.where} "
            "(or run `kit fetch` to download the competition)"
        )
    return folder


def _images_under(folder: Path) -> list[Path]:
    """The image files under ``folder`` (any depth), sorted by their path relative to it."""
    found = [path for path in folder.rglob("*") if path.is_file() and is_image(path)]
    return sorted(found, key=lambda path: path.relative_to(folder).as_posix())


def _class_lookup(competition: Competition) -> dict[str, int]:
    return {str(value): index for index, value in enumerate(competition.class_values)}


def _not_a_class(where: str, value: str, competition: Competition) -> KitError:
    return KitError(
        f"{where}: {value!r} is not a class ({competition.describe_classes()}); "
        f"if it is one, add it to key classes in {competition.where}"
    )


def folder_files(data_dir: Path, competition: Competition) -> FileList:
    """``train/<class>/…``: each class folder's images, the class as the folder is named."""
    root = _folder(data_dir, competition.images.train, "train", competition)
    loose = sorted(path for path in root.iterdir() if path.is_file() and is_image(path))
    if loose:
        raise KitError(f"{loose[0]}: an image outside the class folders of {root}; move it into its class's folder")
    lookup = _class_lookup(competition)
    paths: list[Path] = []
    labels: list[int] = []
    folders = {path.name: path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")}
    for name in sorted(folders):
        if name not in lookup:
            raise _not_a_class(str(folders[name]), name, competition)
        found = _images_under(folders[name])
        if not found:
            raise KitError(f"{folders[name]}: an empty class folder; add its images or remove the folder")
        paths += found
        labels += [lookup[name]] * len(found)
    missing = [str(value) for value in competition.class_values if str(value) not in folders]
    if missing:
        raise KitError(
            f"{root}: no folder for class {missing[0]!r}; add it, or remove the class from {competition.where}"
        )
    ids = np.array([path.relative_to(root).as_posix() for path in paths], dtype=str)
    return FileList(tuple(paths), ids, np.asarray(labels, dtype=np.int64))


def _name_regex(pattern: str) -> re.Pattern[str]:
    """A file-name pattern such as ``{label}.{n}.jpg`` as a regular expression (``label`` a named group)."""
    parts = []
    for literal, field, _, _ in Formatter().parse(pattern):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append("(?P<label>[^/]+?)" if field == "label" else "[^/]+?")
    return re.compile("".join(parts))


def filename_files(data_dir: Path, competition: Competition) -> FileList:
    """The label in the file name: every image of the train folder matches the pattern, its ``{label}`` a class."""
    root = _folder(data_dir, competition.images.train, "train", competition)
    regex, lookup = _name_regex(competition.images.pattern), _class_lookup(competition)
    paths = _images_under(root)
    if not paths:
        raise KitError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}); set key images.train")
    labels = []
    for path in paths:
        match = regex.fullmatch(path.name)
        if match is None:
            raise KitError(
                f"{path}: the name does not match images.pattern {competition.images.pattern!r} of "
                f"{competition.where}; rename or remove the file, or fix the pattern"
            )
        if match["label"] not in lookup:
            raise _not_a_class(str(path), match["label"], competition)
        labels.append(lookup[match["label"]])
    ids = np.array([path.relative_to(root).as_posix() for path in paths], dtype=str)
    return FileList(tuple(paths), ids, np.asarray(labels, dtype=np.int64))


def folder_test_files(data_dir: Path, competition: Competition) -> FileList | None:
    """The image files of the test folder (None when there is none), ids as file names or stems."""
    root = Path(data_dir) / competition.images.test
    if not root.is_dir():
        return None
    paths = _images_under(root)
    if not paths:
        raise KitError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}); set key images.test")
    names = [
        path.relative_to(root).as_posix() if competition.images.test_ids == "name" else path.stem for path in paths
    ]
    from kit.data._load import id_values

    return FileList(tuple(paths), id_values(root, pd.Series(names, dtype=object), "test file names"), None)
