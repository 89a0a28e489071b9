"""Infer the spec of an image-file competition (``kit init`` on a folder of image files and no pixel CSV), one line
per decision saying what was found and why.

The layout comes from :mod:`kit.data._inferlayout`, the target, task, submission and metric from
:mod:`kit.data._infertarget`, and the image size from a sample of the training images: the median height and width,
scaled down together so that the larger is at most :data:`MAX_SIDE`, each rounded to a multiple of :data:`SIDE_STEP`
(a fast first run; raise it with ``--set image.height=224 --set image.width=224``); one channel when every sampled
image is grey (a grey mode, or equal red, green and blue), else three (RGB, alpha dropped). Keys given as settings
win over what is inferred, and are used where the inference depends on them.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np

from kit.competitions import Competition
from kit.data._inferfiles import (
    ImageFolder,
    csv_test_folder,
    csvs,
    head,
    image_folders,
    sample_and_test_csv,
    test_folder,
    test_ids_of,
)
from kit.data._inferlayout import Layout, find_layout, pattern_names
from kit.data._infertarget import Target, csv_target, metric_of, submission_columns, submission_of, task_of
from kit.errors import KitError
from kit.utils import set_dotted

MAX_SIDE = 96  # the larger side of the inferred image size, at most
SIDE_STEP = 8  # each side a multiple of this
SAMPLED = 40  # training images opened to tell the size and channels
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def _sample_paths(data: Path, layout: Layout) -> list[Path]:
    root = data / layout.train.name
    files = list(layout.train.loose) or [f"{c}/{f}" for c, found in sorted(layout.train.classes.items()) for f in found]
    step = max(1, len(files) // SAMPLED)
    return [root / name for name in files[::step][:SAMPLED]]


def _is_grey(path: Path) -> tuple[bool, tuple[int, int]]:
    """Whether the image is grey, and its (height, width) as stored."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            size = (image.height, image.width)
            if image.mode in GREY_MODES:
                return True, size
            image.draft("RGB", (64, 64))
            pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    except (OSError, ValueError, SyntaxError) as error:
        raise KitError(f"{path}: not a readable image ({type(error).__name__}); replace or remove it") from None
    return bool((pixels[:, :, 0] == pixels[:, :, 1]).all() and (pixels[:, :, 1] == pixels[:, :, 2]).all()), size


def _step(side: float) -> int:
    return max(SIDE_STEP, SIDE_STEP * int(side / SIDE_STEP + 0.5))


def image_size(paths: list[Path]) -> tuple[dict[str, int], str]:
    """The ``[image]`` table from sampled images (see the module's docstring) and the note saying how."""
    looks = [_is_grey(path) for path in paths]
    height = statistics.median(size[0] for _, size in looks)
    width = statistics.median(size[1] for _, size in looks)
    scale = min(1.0, MAX_SIDE / max(height, width))
    table = {
        "height": _step(height * scale),
        "width": _step(width * scale),
        "channels": 1 if all(g for g, _ in looks) else 3,
    }
    colour = "all grey → 1 channel" if table["channels"] == 1 else "colour → 3 channels"
    note = (
        f"image: {table['height']}×{table['width']}×{table['channels']} — median size of {len(paths)} sampled images "
        f"{height:g}×{width:g}, rounded to multiples of {SIDE_STEP}, at most {MAX_SIDE} for a fast first run (raise it "
        f"with --set image.height=224 --set image.width=224); {colour}"
    )
    return table, note


def _test_table(
    data: Path, folders: dict[str, ImageFolder], layout: Layout, test_csv: str | None, settings: dict[str, Any]
) -> tuple[ImageFolder, dict[str, Any], str]:
    """The test folder, the ``[files]`` keys of the test images and the note: a test CSV naming them through the
    pattern (csv layout), else a folder of images named like test."""
    if layout.layout == "csv" and test_csv is not None:
        names = pattern_names(head(data / test_csv, rows=None), layout.pattern)
        if names is None:
            raise KitError(f"{data / test_csv}: no column for pattern {layout.pattern!r}: set key files.test")
        folder = csv_test_folder(folders, names, layout.train.name, data, settings)
        beside = " (beside the training images)" if folder.name == layout.train.name else ""
        return (
            folder,
            {"test": test_csv},
            f"test images: the {len(names):,} rows of {test_csv} name them in {folder.name}/{beside}",
        )
    folder, why = test_folder(folders, layout.train.name, data, settings)
    return folder, {}, f"test images: {folder.name}/ ({why})"


def _target(data: Path, layout: Layout, sample: Any, settings: dict[str, Any]) -> Target:
    if layout.layout != "csv":
        classes = sorted(set(layout.labels))
        where = "class folder names" if layout.layout == "folders" else "labels in the file names"
        shown = ", ".join(classes[:4]) + (", …" if len(classes) > 4 else "")
        return Target(classes, notes=[f"classes: the {len(classes)} {where}, as written ({shown})"])
    frame = head(data / str(layout.train_csv), rows=None)
    return csv_target(frame, str(data / str(layout.train_csv)), str(layout.id_column), sample, settings)


def _settle(content: dict[str, Any], settings: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """``content`` with every setting applied (settings win)."""
    if settings:
        notes.insert(0, f"given: {', '.join(f'{key} = {value!r}' for key, value in settings.items())}")
    for key, value in settings.items():
        set_dotted(content, key, value, label="setting")
    return content


def infer_image_content(folder: Path, name: str, settings: dict[str, Any]) -> tuple[dict, list[str]]:
    """The spec table of the image-file competition in ``folder`` (``settings`` win) and the notes on how."""
    folders = image_folders(folder)
    sample_file, test_csv = sample_and_test_csv(folder, settings)
    sample = head(folder / sample_file) if sample_file else None
    train_csvs = [
        n for n in csvs(folder) if n not in (sample_file, test_csv, "solution.csv") and "test" not in n.lower()
    ]
    layout, layout_note = find_layout(folder, folders, train_csvs, settings)
    notes = [layout_note]
    test, files, test_note = _test_table(folder, folders, layout, test_csv, settings)
    test_ids, why = test_ids_of(sample, sample_file, test, settings)
    notes.append(f"{test_note}; {why}" if layout.layout != "csv" or test_csv is None else test_note)
    target = _target(folder, layout, sample, settings)
    notes += target.notes
    task, why = task_of(target, settings)
    notes.append(f"task: {task} — {why}")
    submission, classes, why = submission_of(sample, sample_file, target, task, settings)
    submission.update({key.split(".", 1)[1]: value for key, value in settings.items() if key.startswith("submission.")})
    notes.append(f"submission: {submission['kind']} — {why}")
    if "labels" in target.columns:
        target.columns["labels"] = [str(value) for value in classes]
    columns = {**target.columns, **({"id": layout.id_column} if layout.id_column else {})}
    columns["submission"] = submission_columns(sample, submission["kind"], classes, columns)
    metric, why = metric_of(task, submission["kind"], submission.get("k", 5), settings)
    notes.append(f"metric: {metric} — {why}; set the competition's own with --set metric=…")
    image = {key.split(".", 1)[1]: value for key, value in settings.items() if key.startswith("image.")}
    if not {"height", "width", "channels"} <= set(image):
        table, image_note = image_size(_sample_paths(folder, layout))
        image = {**table, **image}
        notes.append(image_note)
    images = {"layout": layout.layout, "train": layout.train.name, "test": test.name, "test_ids": test_ids}
    if layout.pattern:
        images["pattern"] = layout.pattern
    if layout.train_csv:
        files["train"] = layout.train_csv
    if sample_file:
        files["sample_submission"] = sample_file
    content = {"name": name, "metric": metric, "task": task, "classes": classes, "files": files, "columns": columns}
    content.update(image=image, images=images, submission=submission)
    return _settle(content, settings, notes), notes


def check_files(folder: Path, competition: Competition) -> str:
    """The note after listing the train and test images the spec names (checked, not decoded)."""
    from kit.data._imageset import test_files, train_files

    train, test = train_files(folder, competition), test_files(folder, competition)
    count = len(test.paths) if test is not None else 0
    return (
        f"checked: {len(train.paths):,} train and {count:,} test images listed "
        f"(decoded at {'×'.join(map(str, competition.image_shape))} on first use)"
    )
