"""How the training images of a folder get their labels, for ``kit init``: a labels CSV naming them (``csv``), one
folder per class (``folders``) or the label in each file's name (``filename``), tried in that order, each decision
with one line saying what was found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Formatter
from typing import Any

import pandas as pd

from kit.data._filelists import _name_regex
from kit.data._inferfiles import ImageFolder, head, named_like
from kit.errors import KitError

MAX_NAME_LABELS = 100  # at most this many labels (and fewer than half the files) for the label-in-the-name layout
NAME_SHAPES = (".", "_")  # {label}.{n}.jpg, {label}_{n}.jpg


@dataclass(frozen=True)
class Layout:
    """The ``[images]`` layout, its train folder and pattern; for csv the labels CSV and its column naming the
    images (the id column); for folders and filename the label of each training image."""

    layout: str
    train: ImageFolder
    pattern: str = ""
    train_csv: str | None = None
    id_column: str | None = None
    labels: tuple[str, ...] = ()


def pattern_names(frame: pd.DataFrame, pattern: str) -> list[str] | None:
    """The file name each row gives through ``pattern`` (CSV columns as fields), None when a field is no column."""
    fields = [name for _, name, _, _ in Formatter().parse(pattern) if name is not None]
    if not fields or any(name not in frame.columns for name in fields):
        return None
    cells = {name: frame[name].map(str.strip).tolist() for name in fields}
    return [pattern.format(**{name: cells[name][row] for name in fields}) for row in range(len(frame))]


def _patterns(frame: pd.DataFrame, folder: ImageFolder) -> list[tuple[str, str]]:
    """(column, pattern) for each column whose values, as they are or with one suffix found on disk, name files."""
    suffixes = sorted({Path(name).suffix for name in folder.loose})
    found = []
    for column in frame.columns:
        values = frame[column].map(str.strip)
        if values.empty or (values == "").any():
            continue
        for suffix in ("", *suffixes):
            if set(values + suffix) <= folder.names:
                found.append((column, "{" + column.replace("{", "{{").replace("}", "}}") + "}" + suffix))
                break
    return found


def _csv_layout(
    data: Path, folders: dict[str, ImageFolder], candidates: list[str], settings: dict[str, Any]
) -> tuple[Layout, str] | None:
    """The labels CSV (one of ``candidates``) with a column naming the files of an image folder, or None."""
    given = settings.get("images.pattern") if settings.get("images.layout", "csv") == "csv" else None
    train = settings.get("images.train")
    matches = []
    for name in candidates:
        frame = head(data / name)
        for folder in folders.values():
            if train is not None and folder.name != train:
                continue
            if given is not None:
                names = pattern_names(frame, given)
                found = [("", given)] if names and set(names) <= folder.names else []
            else:
                found = _patterns(frame, folder)
            matches += [(name, folder, column, pattern) for column, pattern in found]
    if not matches:
        return None
    if len({(name, folder.name) for name, folder, _, _ in matches}) > 1:
        shown = ", ".join(sorted({f"{name} → {folder.name}/" for name, folder, _, _ in matches}))
        raise KitError(f"{data}: several CSV files name image files ({shown}): set key files.train (and images.train)")
    if len(matches) > 1:
        shown = ", ".join(pattern for _, _, _, pattern in matches)
        raise KitError(f"{data / matches[0][0]}: several columns name the images ({shown}): set key images.pattern")
    name, folder, column, pattern = matches[0]
    fields = [field for _, field, _, _ in Formatter().parse(pattern) if field]
    id_column = settings.get("columns.id") or (column or fields[0])
    how = "as they are" if pattern == "{" + column + "}" else f"with suffix {Path(pattern).suffix}"
    why = f"column {column!r} of {name} names the images of {folder.name}/ {how}" if column else "given pattern"
    return Layout("csv", folder, pattern, name, id_column), f"layout: csv — {why} (pattern {pattern!r})"


def _train_folder(folders: list[str], data: Path, settings: dict[str, Any]) -> str | None:
    given = settings.get("images.train")
    if given is not None:
        return given if given in folders else None
    if len(folders) == 1:
        return folders[0]
    return named_like(folders, "train", "images.train", data)


def _folders_layout(data: Path, folders: dict[str, ImageFolder], settings: dict[str, Any]) -> tuple[Layout, str] | None:
    """A train folder whose subfolders hold the images (one per class) and no loose images, or None."""
    candidates = [name for name, found in folders.items() if len(found.classes) >= 2 and not found.loose]
    name = _train_folder(candidates, data, settings)
    if name is None:
        return None
    folder = folders[name]
    labels = tuple(label for label, images in sorted(folder.classes.items()) for _ in images)
    why = f"{name}/ holds {len(folder.classes)} folders of images (one per class)"
    return Layout("folders", folder, labels=labels), f"layout: folders — {why}"


def _name_shape(folder: ImageFolder) -> tuple[str, tuple[str, ...]] | None:
    """The ``{label}.{n}.ext`` or ``{label}_{n}.ext`` pattern every loose file of ``folder`` has, with few labels,
    and each file's label as the loader reads it; None when there is no such shape."""
    suffixes = {Path(name).suffix for name in folder.loose}
    ext = suffixes.pop() if len(suffixes) == 1 else None
    for mark in NAME_SHAPES:
        shape = re.compile(rf"(.+?){re.escape(mark)}\d+\.[^.]+")
        if not folder.loose or not all(shape.fullmatch(name) for name in folder.loose):
            continue
        pattern = "{label}" + mark + "{n}" + (ext if ext is not None else ".{ext}")
        regex = _name_regex(pattern)
        labels = tuple(match["label"] if (match := regex.fullmatch(name)) else "" for name in folder.loose)
        distinct = set(labels)
        if "" not in distinct and 2 <= len(distinct) <= min(MAX_NAME_LABELS, len(labels) // 2):
            return pattern, labels
    return None


def _filename_layout(
    data: Path, folders: dict[str, ImageFolder], settings: dict[str, Any]
) -> tuple[Layout, str] | None:
    """A train folder of loose images all named ``{label}.{n}.ext`` (or with ``_``) with few labels, or None."""
    name = _train_folder([name for name, found in folders.items() if found.loose], data, settings)
    if name is None:
        return None
    folder = folders[name]
    given = settings.get("images.pattern")
    if given is not None:
        regex = _name_regex(given)
        matches = [regex.fullmatch(file) for file in folder.loose]
        if not all(matches):
            raise KitError(f"{data / name}: not every image is named like {given!r}: set key images.pattern")
        shape: tuple[str, tuple[str, ...]] | None = (given, tuple(match["label"] for match in matches if match))
    else:
        shape = _name_shape(folder)
    if shape is None:
        return None
    pattern, labels = shape
    why = f"the {len(labels):,} images of {name}/ are named {pattern!r} with {len(set(labels))} labels"
    return Layout("filename", folder, pattern, labels=labels), f"layout: filename — {why}"


def find_layout(
    data: Path, folders: dict[str, ImageFolder], csv_names: list[str], settings: dict[str, Any]
) -> tuple[Layout, str]:
    """The layout (given as ``images.layout``, else the first of csv, folders, filename that fits) and its note."""
    given = settings.get("images.layout")
    candidates = [settings["files.train"]] if "files.train" in settings else csv_names
    tries = {"csv": lambda: _csv_layout(data, folders, candidates, settings)}
    tries.update(folders=lambda: _folders_layout(data, folders, settings))
    tries.update(filename=lambda: _filename_layout(data, folders, settings))
    if given is not None and given not in tries:
        raise KitError.invalid("images.layout", "csv, folders or filename", given)
    for layout in [given] if given else tries:
        found = tries[layout]()
        if found is not None:
            return found
    what = {"csv": "no CSV column names the images", "folders": "no train folder of class folders"}
    what["filename"] = "no train folder of images named {label}.{n}.ext"
    if given:
        keys = {"csv": "files.train and images.pattern", "folders": "images.train", "filename": "images.pattern"}
        raise KitError(f"{data}: layout {given}: {what[given]} found: set key {keys[given]}")
    shown = ", ".join(f"{name}/" for name in list(folders)[:4])
    raise KitError(
        f"{data}: image folders {shown} found, but not how the images get their labels ({'; '.join(what.values())}): "
        "set key images.layout"
    )
