"""Infer a competition spec from the files of a data folder (``kit init``), saying what it found and why.

It finds the train, test and sample-submission files, the label and id columns, the pixel layout and image shape, the
class values and the submission columns; anything it cannot tell stops with one line naming the spec key to set
(``settings`` gives such keys, dotted, e.g. ``{"image.height": 6, "image.width": 10}``). The inferred spec is checked
by loading the data with it before ``DATA/competition.toml`` is written. Where the pixel count fits several image
shapes, :mod:`kit.data._infershape` picks the one the pixels read smoothest in (image keys given keep the rest
inferred). A folder of image files and no pixel CSV is an image-file competition, inferred by
:mod:`kit.data._inferimages` and checked by listing its images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.competitions import BESIDE_DATA, Competition, parse_spec, spec_content, spec_toml
from kit.competitions._spec import SLUG_RULE, is_slug, slug_of
from kit.data._inferfiles import csvs as _csvs
from kit.data._inferfiles import head as _head
from kit.data._inferfiles import holds_images
from kit.errors import KitError
from kit.utils import set_dotted, split_key, write_bytes_atomic

LABEL_NAMES = ("label", "labels", "emotion", "class", "target", "y", "category", "digit")
ID_NAMES = ("id", "imageid", "image_id", "img_id")


@dataclass(frozen=True)
class InferredSpec:
    """The inferred spec, its file (None when not written), what was found, one line each, and whether the file was
    written (False where it already said this and was left as it is)."""

    competition: Competition
    path: Path | None
    notes: tuple[str, ...]
    wrote: bool = False


def _pick(names: list[str], exact: str, word: str, key: str, folder: Path, required: bool = True) -> str | None:
    if exact in names:
        return exact
    found = [name for name in names if word in name.lower()]
    if len(found) == 1:
        return found[0]
    if not required and not found:
        return None
    what = "no" if not found else f"{len(found)} ({', '.join(found)})"
    raise KitError(f"{folder}: {what} CSV files look like the {word} file: set key {key}")


def _is_pixel_column(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce")
    return bool(numbers.notna().all() and (numbers == numbers.round()).all() and numbers.between(0, 255).all())


def _is_pixel_string(values: pd.Series) -> bool:
    sample = values.head(20)
    return bool(len(sample)) and all(re.fullmatch(r"\s*\d+(\s+\d+)+\s*", str(value)) for value in sample)


def _name_layout(names: list[str]) -> tuple[dict[str, Any], tuple[int, int] | None, str]:
    """The ``[pixels]`` table for these column names, the (height, width) a row/column pattern gives, and a note."""
    match = [re.fullmatch(r"(\D*?)(\d+)", name) for name in names]
    if all(match) and len({m.group(1) for m in match}) == 1:
        prefix, numbers = match[0].group(1), [int(m.group(2)) for m in match]
        start = numbers[0]
        if numbers == list(range(start, start + len(names))) and start in (0, 1):
            return {"prefix": prefix, "start": start}, None, f"columns {names[0]}…{names[-1]}"
    pair = [re.fullmatch(r"(\D*?)(\d+)(\D+)(\d+)(\D*)", name) for name in names]
    if all(pair) and len({(m.group(1), m.group(3), m.group(5)) for m in pair}) == 1:
        head, middle, tail = pair[0].group(1), pair[0].group(3), pair[0].group(5)
        rows, cols = [int(m.group(2)) for m in pair], [int(m.group(4)) for m in pair]
        start = min(rows)
        height, width = max(rows) - start + 1, max(cols) - start + 1
        expected = [(r, c) for r in range(start, start + height) for c in range(start, start + width)]
        if min(cols) == start and list(zip(rows, cols)) == expected:
            pattern = f"{head}{{row}}{middle}{{col}}{tail}"
            note = f"columns {names[0]}…{names[-1]} → pattern {pattern!r} from {start}, {height} rows × {width} columns"
            return {"pattern": pattern, "start": start}, (height, width), note
    return {"rest": True}, None, f"{len(names)} integer columns 0–255 ({names[0]}, {names[1]}, …) taken as the pixels"


def _image_table(
    train: pd.DataFrame,
    layout: dict[str, Any],
    pixels: list[str],
    count: int,
    from_names: tuple[int, int] | None,
    given: dict[str, Any],
    folder: Path,
) -> dict[str, Any]:
    """The ``[image]`` table: the ``given`` keys, the rest from the column names' rows and columns, else chosen among
    the shapes the pixel count fits by how smooth the pixels read in each (:mod:`kit.data._infershape`); the note
    saying how under ``note``."""
    from kit.data._infershape import choose_shape, pixel_rows

    source = ""
    if from_names is not None:
        given = {"height": from_names[0], "width": from_names[1], **given}
        source = f"{given['height']} rows × {given['width']} columns in the column names"
    rows = pixel_rows(train, pixels, layout.get("string"), count)
    table, note = choose_shape(count, rows, given, folder, source)
    return {**table, **given, "note": note}


def _classes(values: list[Any]) -> tuple[Any, str]:
    unique = sorted(set(values), key=lambda value: (isinstance(value, str), value))
    if all(isinstance(value, int) for value in unique):
        low, high = unique[0], unique[-1]
        gaps = [value for value in range(low, high + 1) if value not in set(unique)]
        if not gaps and low == 0:
            return len(unique), f"labels 0–{high} → {len(unique)} classes"
        without = f" without {', '.join(map(str, gaps[:5]))}{'…' if len(gaps) > 5 else ''}" if gaps else ""
        return unique, f"labels {low}–{high}{without} → {len(unique)} classes"
    shown = ", ".join(repr(value) for value in unique[:4]) + (", …" if len(unique) > 4 else "")
    return [
        str(value) for value in unique
    ], f"text labels ({shown}) → {len(unique)} classes, mapped to 0–{len(unique) - 1}"


def _label_values(path: Path, column: str) -> list[Any]:
    series = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False)[column].str.strip()
    if (series == "").any():
        row = int(np.argmax((series == "").to_numpy()))
        raise KitError(f"{path}: line {row + 2}, column {column}: empty label")
    numbers = pd.to_numeric(series, errors="coerce")
    if numbers.notna().all() and (numbers == numbers.round()).all():
        return sorted({int(value) for value in numbers})
    return sorted(set(series))


def _data_files(folder: Path, settings: dict[str, Any]) -> tuple[list[str], tuple[str, str, str | None]]:
    """The folder's CSV files, and its train, test and (optional) sample-submission file."""
    names = _csvs(folder)
    train_file = settings.pop("files.train", None) or _pick(names, "train.csv", "train", "files.train", folder)
    test_file = settings.pop("files.test", None) or _pick(names, "test.csv", "test", "files.test", folder)
    sample_file = settings.pop("files.sample_submission", None) or _pick(
        names, "sample_submission.csv", "submission", "files.sample_submission", folder, required=False
    )
    return names, (train_file, test_file, sample_file)


def _label_column(
    train: pd.DataFrame, test: pd.DataFrame, settings: dict[str, Any], path: Path, notes: list[str]
) -> str:
    """The label column: given, else the one named like a label, else the one column the test file lacks."""
    label = settings.pop("columns.label", None)
    if label is None:
        named = [c for c in train.columns if c.lower() in LABEL_NAMES]
        candidates = named or [c for c in train.columns if c not in test.columns]
        if len(candidates) != 1:
            raise KitError(f"{path}: cannot tell the label column: set key columns.label")
        label = candidates[0]
        notes.append(f"label column {label!r} ({'its name' if named else 'the one column the test file lacks'})")
    if label not in train.columns:
        raise KitError(f"{path}: no column {label!r}: set key columns.label")
    return label


def _id_columns(
    test: pd.DataFrame, sample: pd.DataFrame | None, test_file: str, settings: dict[str, Any], notes: list[str]
) -> dict[str, Any]:
    """The ``[columns]`` keys of the test ids: the id column (given, the sample submission's first, or named like an
    id), else the first row number (the sample submission's first id, else 1)."""
    id_column = settings.pop("columns.id", None)
    if id_column is None:
        wanted = [sample.columns[0]] if sample is not None else []
        found = [c for c in test.columns if c in wanted or c.lower() in ID_NAMES]
        id_column = found[0] if found else None
    if id_column:
        notes.append(f"test ids from column {id_column!r}")
        return {"id": id_column}
    first = int(sample.iloc[0, 0]) if sample is not None and str(sample.iloc[0, 0]).isdigit() else 1
    notes.append(f"no id column in {test_file}: ids are row numbers from {first}")
    return {"first_id": first}


def _pixel_columns(
    train: pd.DataFrame, others: list[str], path: Path, notes: list[str]
) -> tuple[dict[str, Any], tuple[int, int] | None, int, list[str]]:
    """The ``[pixels]`` table, the (height, width) the column names give, the pixels per image and the other columns
    (ignored): one column of space-separated values, or integer columns 0–255."""
    strings = [c for c in others if _is_pixel_string(train[c])]
    pixels = [c for c in others if c not in strings and _is_pixel_column(train[c])]
    if len(strings) == 1 and not pixels:
        count = len(str(train[strings[0]].iloc[0]).split())
        layout, ignore = {"string": strings[0]}, [c for c in others if c != strings[0]]
        from_names, layout_note = None, f"column {strings[0]!r} holds {count:,} space-separated pixel values per row"
    elif pixels:
        layout, from_names, layout_note = _name_layout(pixels)
        count, ignore = len(pixels), [c for c in others if c not in pixels]
    else:
        raise KitError(f"{path}: no pixel columns (integers 0–255) found: set the [pixels] keys")
    notes.append(layout_note)
    if ignore:
        notes.append(f"ignoring column{'s' if len(ignore) > 1 else ''} {', '.join(map(repr, ignore))} (not pixels)")
    return layout, from_names, count, ignore


def _files_table(
    folder: Path,
    names: list[str],
    chosen: tuple[str, str, str | None],
    train: pd.DataFrame,
    test_labels: bool,
    notes: list[str],
) -> dict[str, Any]:
    """The ``[files]`` table: the chosen files, the other CSV files with the train file's columns (extra labelled
    rows) and whether the test file carries labels."""
    train_file, test_file, sample_file = chosen
    extra = [
        n
        for n in names
        if n not in (train_file, test_file, sample_file, "solution.csv")
        and set(_head(folder / n).columns) == set(train.columns)
    ]
    files: dict[str, Any] = {"train": train_file, "test": test_file}
    if sample_file:
        files["sample_submission"] = sample_file
    if extra:
        files["extra"] = extra
        notes.append(f"extra labelled file{'s' if len(extra) > 1 else ''} {', '.join(extra)} (same columns as train)")
    if test_labels:
        files["test_labels"] = True
        notes.append(f"{test_file} carries labels too: they serve as the answers for scoring, not as input")
    return files


def _submission_columns(
    sample: pd.DataFrame | None, sample_file: str | None, id_column: str | None, label: str, notes: list[str]
) -> list[str]:
    """The submission's columns: the sample submission's first two, else the id column (or ImageId) and the label."""
    if sample is not None:
        notes.append(f"submission columns {','.join(sample.columns[:2])} (from {sample_file})")
        return list(sample.columns[:2])
    notes.append(f"no sample submission: submission columns {id_column or 'ImageId'},{label} (set columns.submission)")
    return [id_column or "ImageId", label]


def infer_content(
    folder: Path, name: str | None = None, settings: dict[str, Any] | None = None
) -> tuple[dict, list[str]]:
    """The spec table inferred from the files of ``folder`` (``settings`` win) and the notes on how."""
    settings = dict(settings or {})
    given = [f"{key} = {value!r}" for key, value in settings.items()]
    if not folder.is_dir():
        raise KitError(f"{folder}: no such folder")
    if holds_images(folder, settings):  # image files and no pixel CSV
        from kit.data._inferimages import infer_image_content

        return infer_image_content(folder, name or slug_of(folder.resolve().name), settings)
    names, chosen = _data_files(folder, settings)
    train_file, test_file, sample_file = chosen
    notes = [f"train {train_file}, test {test_file}, sample submission {sample_file or 'none'}"]
    if given:
        notes.append(f"given: {', '.join(given)}")
    train, test = _head(folder / train_file), _head(folder / test_file)
    label = _label_column(train, test, settings, folder / train_file, notes)
    sample = _head(folder / sample_file) if sample_file else None
    columns: dict[str, Any] = {"label": label, **_id_columns(test, sample, test_file, settings, notes)}
    id_column = columns.get("id")
    given_ignore = settings.get("columns.ignore", [])
    given_ignore = [given_ignore] if isinstance(given_ignore, str) else list(given_ignore)
    others = [c for c in train.columns if c not in (label, id_column, *given_ignore)]
    image = {split_key(key)[1]: settings.pop(key) for key in list(settings) if key.startswith("image.")}
    layout, from_names, count, ignore = _pixel_columns(train, others, folder / train_file, notes)
    if ignore:
        columns["ignore"] = ignore
    if not {"height", "width", "channels"} <= set(image):
        image = _image_table(train, layout, [c for c in others if c not in ignore], count, from_names, image, folder)
        notes += [image.pop("note")] if "note" in image else []
    files = _files_table(folder, names, chosen, train, label in test.columns, notes)
    values = [value for file in (train_file, *files.get("extra", ())) for value in _label_values(folder / file, label)]
    classes, class_note = _classes(values)
    notes.append(class_note)
    columns["submission"] = _submission_columns(sample, sample_file, id_column, label, notes)
    if any(key.startswith("pixels.") for key in settings):
        layout = {}
    content = {"name": name or slug_of(folder.resolve().name), "metric": "accuracy", "classes": classes}
    content.update(files=files, columns=columns, image=image, pixels=layout)
    for key, value in settings.items():
        set_dotted(content, key, value, label="setting")
    return content, notes


def infer_competition(
    data_dir: Path | str,
    name: str | None = None,
    write: bool = True,
    force: bool = False,
    settings: dict[str, Any] | None = None,
) -> InferredSpec:
    """Infer the spec of ``data_dir``, check it by loading the data, and write ``DATA/competition.toml``.

    An existing different spec is kept unless ``force``; nothing is written when anything fails.
    """
    from kit.data._load import load_extra
    from kit.data._sets import load_test, load_train

    if name is not None and not is_slug(name):  # the name becomes data/NAME: no path, nothing hidden
        raise KitError.invalid("name", SLUG_RULE, name)
    folder = Path(data_dir)
    content, notes = infer_content(folder, name, settings)
    path = folder / BESIDE_DATA
    competition = parse_spec(content, str(path), str(content["name"]))
    if competition.images is not None:
        from kit.data._inferimages import check_files

        notes.append(check_files(folder, competition))
    else:
        train, test = load_train(folder, competition), load_test(folder, competition)
        load_extra(folder, competition)
        notes.append(f"checked: {len(train):,} train and {len(test):,} test images of {competition.image_shape} load")
    if not write:
        return InferredSpec(competition, None, tuple(notes))
    text = spec_toml(competition, header=f"written by kit init from the files in {folder}; edit freely")
    if path.is_file():
        from kit.competitions import load_spec

        try:
            same = spec_content(load_spec(path)) == spec_content(competition)
        except KitError:
            same = False
        if same:
            return InferredSpec(competition, path, (*notes, f"{path} already says this; left as it is"))
        if not force:
            raise KitError(
                f"{path} exists with other settings (remove it, edit it, or replace it)", fix=("force", True)
            )

    write_bytes_atomic(path, text.encode())
    return InferredSpec(competition, path, tuple(notes), wrote=True)
