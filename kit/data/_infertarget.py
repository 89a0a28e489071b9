"""What an image-file competition predicts, for ``kit init``: the label column (or multi-label 0/1 columns, or one
column of separated labels), the group column, the classes, the task, the submission kind and a default metric, each
decision with one line saying what was found and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kit.competitions._imagespec import MAX_TOP_K
from kit.errors import KitError

LABEL_NAMES = ("label", "labels", "class", "target", "y", "category", "species", "breed", "diagnosis", "tags")
ORDINAL_NAMES = ("diagnosis", "grade", "severity", "level", "stage", "rating")
GROUP_WORDS = ("patient", "subject", "individual", "study", "series", "case", "group", "source", "site")
ZERO_ONE = {"0", "1", "0.0", "1.0"}


@dataclass
class Target:
    """The ``[columns]`` keys of the target, its class values and task, and the notes saying why."""

    classes: list[Any]
    task: str = "single"
    columns: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def class_values(values: list[str]) -> list[Any]:
    """The distinct labels sorted: integers when every one is one, else text as written."""
    distinct = {value.strip() for value in values}
    if all(re.fullmatch(r"-?\d+", value) for value in distinct):
        return sorted({int(value) for value in distinct})
    return sorted(distinct)


def _describe(classes: list[Any]) -> str:
    shown = ", ".join(str(value) for value in classes[:4]) + (", …" if len(classes) > 4 else "")
    return f"{len(classes)} classes ({shown})"


def _group(frame: pd.DataFrame, others: list[str], settings: dict[str, Any], notes: list[str]) -> str | None:
    """The group column: given, else the first named like a group (patient before study …) with repeated values."""
    if "columns.group" in settings:
        return settings["columns.group"]
    for word in GROUP_WORDS:
        for column in others:
            values = frame[column]
            if word in column.lower() and values.nunique() < len(values):
                notes.append(
                    f"group column {column!r} (named like a {word}, {values.nunique():,} groups of {len(values):,} "
                    "rows): folds keep each group together"
                )
                return column
    return None


def _separated(values: pd.Series) -> list[str] | None:
    """The labels of a column of space-separated labels, else None: some values hold several words, and most of
    their words recur in other values (``rust scab`` beside ``rust``; not ``Common Chickweed`` beside ``Fat Hen``)."""
    distinct = [tuple(value.split()) for value in values.unique()]
    words = {word for value in distinct if len(value) > 1 for word in value}
    if not words:
        return None
    recurring = [word for word in words if sum(word in value for value in distinct) > 1]
    return sorted({word for value in distinct for word in value}) if 2 * len(recurring) >= len(words) else None


def _zero_one_columns(frame: pd.DataFrame, others: list[str], sample: pd.DataFrame | None) -> list[str] | None:
    """The multi-label 0/1 columns: at least two, at least one 1 a row, and all the other columns or all in the
    sample submission."""
    zero_one = [c for c in others if set(frame[c].str.strip()) <= ZERO_ONE]
    if len(zero_one) < 2 or (frame[zero_one].map(str.strip).astype(float).sum(axis=1) == 0).any():
        return None  # kit's multi-label targets give every image at least one label
    if len(zero_one) == len(others) or (sample is not None and set(zero_one) <= set(sample.columns[1:])):
        return zero_one
    return None


def _label_column(frame: pd.DataFrame, others: list[str], sample: pd.DataFrame | None, path: str) -> tuple[str, str]:
    """The label column and why: the one column left, else the one the sample submission has, else named like one."""
    candidates = [c for c in others if frame[c].nunique() < len(frame) and (frame[c] != "").all()]
    if len(candidates) == 1:
        return candidates[0], "the one other column with repeated values"
    in_sample = [c for c in candidates if sample is not None and c in sample.columns[1:]]
    if len(in_sample) == 1:
        return in_sample[0], "the sample submission has it too"
    named = [c for c in candidates if c.lower() in LABEL_NAMES]
    if len(named) == 1:
        return named[0], "its name"
    found = ", ".join(candidates) or "none"
    raise KitError(f"{path}: cannot tell the label column (candidates: {found}): set key columns.label")


def csv_target(
    frame: pd.DataFrame, path: str, id_column: str, sample: pd.DataFrame | None, settings: dict[str, Any]
) -> Target:
    """The target of a labels CSV (all its rows, as text) besides the column ``id_column`` naming the images."""
    notes: list[str] = []
    others = [c for c in frame.columns if c != id_column]
    group = _group(frame, others, settings, notes)
    others = [c for c in others if c != group]
    columns: dict[str, Any] = {"group": group} if group else {}
    task = settings.get("task")
    labels = settings.get("columns.labels")
    if labels is None and task in (None, "multilabel") and "columns.label" not in settings:
        labels = _zero_one_columns(frame, others, sample)
        if labels is not None:
            notes.append(f"multi-label: {len(labels)} columns of 0/1 ({', '.join(labels[:6])}) → task multilabel")
    if labels is not None:
        return Target(list(labels), "multilabel", {**columns, "labels": list(labels)}, notes)
    label = settings.get("columns.label")
    if label is None:
        label, why = _label_column(frame, others, sample, path)
        notes.append(f"label column {label!r} ({why})")
    if label not in frame.columns:
        raise KitError(f"{path}: no column {label!r}: set key columns.label")
    columns["label"] = label
    values = frame[label].map(str.strip)
    tokens = _separated(values) if task in (None, "multilabel") else None
    if tokens is not None:
        notes.append(f"column {label!r} holds space-separated labels: {len(tokens)} labels → task multilabel")
        return Target(tokens, "multilabel", columns, notes)
    classes = class_values(values.tolist())
    notes.append(f"labels of {label!r}: {_describe(classes)}")
    return Target(classes, "single", columns, notes)


def task_of(target: Target, settings: dict[str, Any]) -> tuple[str, str]:
    """The task and why: given; multilabel as found; binary for 2 classes; ordinal for integer grades 0..K-1 (K ≥ 3)
    in a column named like a grade (diagnosis, grade, severity, level, stage, rating); else single."""
    if "task" in settings:
        return settings["task"], "given"
    if target.task == "multilabel":
        return "multilabel", "several labels an image"
    classes, column = target.classes, str(target.columns.get("label", ""))
    if len(classes) == 2:
        return "binary", "2 classes"
    graded = any(word in column.lower() for word in ORDINAL_NAMES)
    if len(classes) >= 3 and classes == list(range(len(classes))) and graded:
        return "ordinal", f"integer grades 0–{len(classes) - 1} in column {column!r}, named like a grade"
    return "single", f"{len(classes)} classes, one an image"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def submission_of(
    sample: pd.DataFrame | None, sample_file: str | None, target: Target, task: str, settings: dict[str, Any]
) -> tuple[dict[str, Any], list[Any], str]:
    """The ``[submission]`` table, the classes (in the sample's column order for per-class columns) and why: one
    column per class → probabilities; 2 classes and a non-integer sample value → probability; space-separated
    sample values of a single-label task → top_k (k = their count); else label."""
    classes = target.classes
    if sample is None:
        return {"kind": settings.get("submission.kind", "label")}, classes, "no sample submission"
    header, values = list(sample.columns), sample.iloc[:, 1].astype(str).str.strip() if sample.shape[1] > 1 else None
    names = [str(value) for value in classes]
    if len(header) > 2 and sorted(header[1:]) == sorted(names):
        ordered = [classes[names.index(name)] for name in header[1:]]
        return {"kind": "probabilities"}, ordered, f"{sample_file} has one column per class"
    if values is None:
        return {"kind": "label"}, classes, f"{sample_file} has one column only"
    if task != "multilabel" and values.str.contains(" ", regex=False).any():
        k = min(MAX_TOP_K, max(len(value.split()) for value in values))
        return {"kind": "top_k", "k": k}, classes, f"{sample_file}'s {header[1]!r} holds {k} space-separated labels"
    fractional = any(_is_number(v) and float(v) != round(float(v)) for v in values)
    if len(classes) == 2 and task != "multilabel" and fractional:
        why = f"2 classes and {sample_file}'s {header[1]!r} holds non-integers ({values.iloc[0]}): P({classes[1]})"
        return {"kind": "probability"}, classes, why
    return {"kind": "label"}, classes, f"{sample_file}'s {header[1]!r} holds labels ({values.iloc[0]})"


def submission_columns(sample: pd.DataFrame | None, kind: str, classes: list[Any], columns: dict[str, Any]) -> list:
    """The submission's columns: the sample's header where it fits the kind, else the id and the label (or classes)."""
    first = str(sample.columns[0]) if sample is not None else str(columns.get("id", "id"))
    if kind == "probabilities":
        header = [str(c) for c in sample.columns] if sample is not None else []
        return header if len(header) == 1 + len(classes) else [first, *(str(value) for value in classes)]
    if sample is not None and sample.shape[1] == 2:
        return [str(c) for c in sample.columns]
    return [first, str(columns.get("label", "label"))]


def metric_of(task: str, kind: str, k: int, settings: dict[str, Any]) -> tuple[str, str]:
    """The default metric for the task and submission kind, and why (``metric`` given wins)."""
    if "metric" in settings:
        return settings["metric"], "given"
    if kind == "top_k":
        return f"map_at_{k}", "the default for ranked labels"
    if task == "multilabel":
        return ("mean_roc_auc", "the default for multi-label probabilities") if kind != "label" else (
            "micro_f1", "the default for multi-label labels")  # fmt: skip
    if task == "ordinal":
        return "qwk", "the default for ordinal grades"
    if kind == "probability":
        return "roc_auc", "the default for one probability of 2 classes"
    if kind == "probabilities":
        return "log_loss", "the default for per-class probabilities"
    return "accuracy", "the default for one label an image"
