"""Where the images of an image-file competition are, for ``kit init``: its image folders, the CSV files (train,
test, sample submission) and the test images with how the submission names them.

The layout (a labels CSV, a folder per class or the label in the file name) is told by
:mod:`kit.data._inferlayout`; anything ambiguous stops with one line naming the spec key to set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kit.data._filelists import is_image
from kit.errors import KitError

SAMPLE_ROWS = 500  # rows of each CSV read to tell what its columns hold
PIXEL_COLUMNS = 64  # a CSV with this many integer 0–255 cells in its first row holds pixels, not file names


@dataclass(frozen=True)
class ImageFolder:
    """A folder of the data folder (its path relative to it) with its image files (names relative to it: loose files,
    or ``class/file`` for the images of its class subfolders) and the names of those subfolders."""

    name: str
    loose: tuple[str, ...]
    classes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def names(self) -> set[str]:
        return set(self.loose)


def csvs(folder: Path) -> list[str]:
    """The CSV files of ``folder``, sorted."""
    return sorted(path.name for path in folder.glob("*.csv") if path.is_file() and not path.name.startswith("."))


def head(path: Path, rows: int | None = SAMPLE_ROWS) -> pd.DataFrame:
    """The first ``rows`` rows of a CSV (all with None) as text, or one line naming the file."""
    try:
        frame = pd.read_csv(path, nrows=rows, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise KitError(f"{path}: cannot read it as CSV ({type(error).__name__})") from None
    frame.columns = [str(column) for column in frame.columns]
    return frame


def _visible_dirs(folder: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return []
    return [Path(entry.path) for entry in entries if entry.is_dir() and not entry.name.startswith(".")]


def _loose_images(folder: Path) -> tuple[str, ...]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return ()
    return tuple(sorted(entry.name for entry in entries if entry.is_file() and is_image(Path(entry.name))))


def image_folders(folder: Path) -> dict[str, ImageFolder]:
    """The folders (one or two levels down) holding image files or subfolders of them, by relative name."""
    found: dict[str, ImageFolder] = {}
    for first in _visible_dirs(folder):
        for path in (first, *_visible_dirs(first)):
            loose = _loose_images(path)
            classes = {sub.name: images for sub in _visible_dirs(path) if (images := _loose_images(sub))}
            if loose or classes:
                found[path.relative_to(folder).as_posix()] = ImageFolder(
                    path.relative_to(folder).as_posix(), loose, classes
                )
    return found


def holds_pixels(path: Path) -> bool:
    """Whether a CSV holds pixels: many integer 0–255 cells in its first row, or one cell of many such numbers."""
    try:
        frame = head(path, rows=1)
    except KitError:
        return False
    if frame.empty:
        return False
    cells = [str(value).strip() for value in frame.iloc[0]]
    numbers = sum(cell.isdigit() and int(cell) <= 255 for cell in cells)
    return numbers >= PIXEL_COLUMNS or any(len(cell.split()) >= PIXEL_COLUMNS for cell in cells)


def holds_images(folder: Path, settings: dict[str, Any]) -> bool:
    """Whether ``folder`` is an image-file competition: ``images.*`` keys given, or image folders and no pixel CSV."""
    if any(key.startswith("images.") for key in settings):
        return True
    if any(key.startswith("pixels.") for key in settings) or not image_folders(folder):
        return False
    return not any(holds_pixels(folder / name) for name in csvs(folder))


def _pick_csv(names: list[str], exact: str, word: str, key: str, folder: Path) -> str | None:
    if exact in names:
        return exact
    found = [name for name in names if word in name.lower() and name != "solution.csv"]
    if len(found) > 1:
        raise KitError(
            f"{folder}: {len(found)} CSV files ({', '.join(found)}) look like the {word} file: set key {key}"
        )
    return found[0] if found else None


def sample_and_test_csv(folder: Path, settings: dict[str, Any]) -> tuple[str | None, str | None]:
    """The sample submission and the test CSV (each None when there is none): given, else named like one."""
    names = csvs(folder)
    sample = settings.get("files.sample_submission") or _pick_csv(
        names, "sample_submission.csv", "submission", "files.sample_submission", folder
    )
    others = [name for name in names if name != sample]
    test = settings.get("files.test") or _pick_csv(others, "test.csv", "test", "files.test", folder)
    return sample, test


def named_like(folders: list[str], word: str, key: str, where: Path) -> str | None:
    """The one folder named like ``word`` (exactly, else containing it), None when none; several stop naming key."""
    for exact in (word, f"{word}_images", f"{word}_image"):
        if exact in folders:
            return exact
    found = [name for name in folders if word in Path(name).name.lower()]
    if len(found) > 1:
        shown = ", ".join(found)
        raise KitError(f"{where}: {len(found)} image folders look like the {word} images ({shown}): set key {key}")
    return found[0] if found else None


def test_ids_of(
    sample: pd.DataFrame | None, sample_file: str | None, folder: ImageFolder, settings: dict[str, Any]
) -> tuple[str, str]:
    """``images.test_ids`` ("name" or "stem") and why: how the sample submission's first column names the test
    files."""
    if "images.test_ids" in settings:
        return settings["images.test_ids"], "given"
    if sample is None or sample.empty:
        return "name", "no sample submission to compare with: ids are the file names"
    column = sample.columns[0]
    values = {str(value).strip() for value in sample[column].head(50)}
    if values <= folder.names:
        return "name", f"ids are file names, as in {sample_file}'s column {column!r}"
    if values <= {Path(name).stem for name in folder.loose}:
        return "stem", f"ids are file names without the suffix, as in {sample_file}'s column {column!r}"
    shown = ", ".join(sorted(values)[:3])
    raise KitError(
        f"{sample_file}: column {column!r} ({shown}, …) names neither the files of {folder.name}/ nor their stems: "
        "set key images.test_ids (name or stem) or images.test"
    )


def test_folder(
    folders: dict[str, ImageFolder], train: str, data: Path, settings: dict[str, Any]
) -> tuple[ImageFolder, str]:
    """The folder of test images (loose image files) and why: given, else the one named like test."""
    given = settings.get("images.test")
    if given is not None:
        if given not in folders or not folders[given].loose:
            raise KitError(f"{data / str(given)}: no image files in it: set key images.test")
        return folders[given], "given"
    candidates = [name for name, found in folders.items() if found.loose and name != train]
    name = named_like(candidates, "test", "images.test", data)
    if name is None:
        raise KitError(f"{data}: no folder of test images (named like test) found: set key images.test")
    return folders[name], f"the image folder named like test, {len(folders[name].loose):,} files"


def csv_test_folder(
    folders: dict[str, ImageFolder], names: list[str], train: str, data: Path, settings: dict[str, Any]
) -> ImageFolder:
    """The folder holding the test images a test CSV names (``names``, from the pattern): given, else the train
    folder (images beside the training ones), else another folder holding them all."""
    given = settings.get("images.test")
    if given is not None:
        if given not in folders:
            raise KitError(f"{data / str(given)}: no image files in it: set key images.test")
        return folders[given]
    order = [train, *(name for name in folders if name != train)]
    for name in order:
        if set(names) <= folders[name].names:
            return folders[name]
    raise KitError(
        f"{data}: no image folder holds the images the test CSV names (e.g. {names[0]}): set key images.test"
    )
