"""What a model's probabilities become in each kind of submission (``Competition.submission_kind``): the cells of
every column after the id, in the submission's column order.

The probabilities are ``(n, K)``: softmax rows of a single-label task, or for a multi-label task one independent
sigmoid probability per label. ``label`` writes each row's class value (its argmax, or the labels given, e.g. an
ordinal task's grades from fitted thresholds; a multi-label row: its labels at 0.5 and over separated by spaces, the
most probable one where none reaches 0.5), ``probability`` the probability of ``class_values[1]``,
``probabilities`` one column per class in class order, ``top_k`` the k most probable class values best first (ties
by class index) separated by spaces. Probabilities keep their full precision (float32 or float64 as given).
"""

from __future__ import annotations

import numpy as np

from kit.competitions import Competition, class_values_of
from kit.errors import KitError
from kit.submission._cells import SEPARATOR, class_finder, fail

THRESHOLD = 0.5  # a label of a multi-label task is predicted at this probability and over (the metrics' rule)
SLACK = 1e-6  # rounding a probability may carry past 0 or 1; clipped back


def checked_probabilities(proba: np.ndarray, competition: Competition, source: str) -> np.ndarray:
    """``proba`` as an ``(n, K)`` float array of numbers from 0 to 1; a binary task may give ``(n,)`` or ``(n, 1)``,
    the probability of class 1. A submission of one label a row takes the argmax of fewer columns too (the first
    classes: a run fit on the classes its training rows hold)."""
    proba = np.asarray(proba)
    if proba.dtype.kind not in "fiub":
        raise KitError(f"{source}: the probabilities are {proba.dtype}, not numbers")
    proba = proba.astype(np.float32 if proba.dtype == np.float32 else np.float64)
    if competition.classes == 2 and not competition.multilabel and (proba.ndim == 1 or proba.shape[1:] == (1,)):
        positive = proba.reshape(-1)
        proba = np.column_stack([1 - positive, positive])
    one_label = competition.submission_kind == "label" and not competition.multilabel  # only the argmax is written
    width = proba.shape[1] if proba.ndim == 2 else 0
    if not (0 < width <= competition.classes if one_label else width == competition.classes):
        what = "labels" if competition.multilabel else "classes"
        raise KitError(
            f"{source}: probabilities of shape {proba.shape}; expected one column for each of the "
            f"{competition.classes} {what}"
        )
    bad = ~np.isfinite(proba) | (proba < -SLACK) | (proba > 1 + SLACK)
    if bad.any():
        row, col = (int(index) for index in np.argwhere(bad)[0])
        raise KitError(
            f"{source}: row {row + 1}, class {col}: {proba[row, col].item()!r} is not a probability (0 to 1)"
        )
    return np.clip(proba, 0, 1)  # a weighted mean's rounding (1.0000000000000002) is still a probability


def chosen_labels(proba: np.ndarray, competition: Competition) -> np.ndarray:
    """The labels the probabilities choose: class indices ``(n,)`` (the argmax), or for a multi-label task a 0/1
    ``(n, L)`` matrix (every label at 0.5 and over, the most probable one where none reaches it)."""
    proba = np.asarray(proba)
    if not competition.multilabel:
        return proba.argmax(axis=1)
    chosen = (proba >= THRESHOLD).astype(np.int64)
    none = ~chosen.any(axis=1)
    chosen[np.flatnonzero(none), proba[none].argmax(axis=1)] = 1
    return chosen


def class_counts(proba: np.ndarray, competition: Competition, labels: np.ndarray | None = None) -> list[int]:
    """How many rows each class is chosen for (``labels`` where given, else :func:`chosen_labels`): a multi-label
    task counts each label's rows."""
    chosen = chosen_labels(proba, competition) if labels is None else np.asarray(labels)
    if chosen.ndim == 2:
        return chosen.astype(np.int64).sum(axis=0).tolist()
    return np.bincount(chosen.astype(np.int64), minlength=competition.classes).tolist()


def class_values(labels: np.ndarray, competition: Competition, source: str, column: str) -> np.ndarray:
    """Class indices (numbers) → class values; text labels are taken as class values already."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "iufb":
        numbers = labels.astype(np.float64)
        not_integer = ~np.isfinite(numbers) | (numbers != np.round(numbers))
        if not_integer.any():
            row = int(np.argmax(not_integer))
            raise KitError(f"{source}: line {row + 2}, column {column}: {labels[row].item()!r} is not an integer")
        outside = (numbers < 0) | (numbers >= competition.classes)
        if outside.any():
            row = int(np.argmax(outside))
            what = "a class" if competition.class_values == tuple(range(competition.classes)) else "a class index"
            raise KitError(
                f"{source}: line {row + 2}, column {column}: {int(numbers[row])} is not {what} "
                f"(0–{competition.classes - 1})"
            )
        return class_values_of(competition, numbers.astype(np.int64))
    return labels.astype(str)


def _joined(rows: list[np.ndarray], competition: Competition, source: str) -> np.ndarray:
    """Each row's class indices as its class values separated by spaces (a class value must hold no space)."""
    names = [str(value) for value in competition.class_values]
    spaced = next((name for name in names if not name or len(name.split()) != 1 or name != name.strip()), None)
    if spaced is not None:
        raise KitError(
            f"{source}: class {spaced!r} is not one word; a {competition.submission_kind} submission of "
            f"{competition.name} separates its labels by spaces"
        )
    return np.array([SEPARATOR.join(names[index] for index in row) for row in rows], dtype=object)


def label_cells(labels: np.ndarray, competition: Competition, source: str) -> np.ndarray:
    """The cells of a ``label`` or ``top_k`` submission from labels: class indices (or values) ``(n,)``; a 0/1
    ``(n, L)`` matrix for a multi-label task; ``(n, k)`` class indices best first (-1 for none) for top k."""
    labels = np.asarray(labels)
    column = competition.submission_columns[1]
    kind = competition.submission_kind
    if kind in ("probability", "probabilities"):
        raise KitError(f"{source}: {competition.name} submits {kind}; write it from the probabilities, not labels")
    if competition.multilabel:
        if labels.ndim != 2 or labels.shape[1] != competition.classes or not np.isin(labels, (0, 1)).all():
            raise KitError(f"{source}: multi-label labels must be {competition.classes} columns of 0/1 a row")
        return _joined([np.flatnonzero(row) for row in labels], competition, source)
    if kind == "top_k":
        ranked = _indices(labels, competition, source, column)[:, None] if labels.ndim == 1 else labels
        if ranked.ndim != 2 or ranked.dtype.kind not in "iu" or (ranked >= competition.classes).any():
            raise KitError(f"{source}: top-k labels must be class indices best first, -1 for an empty slot")
        return _joined([row[row >= 0] for row in ranked[:, : competition.top_k]], competition, source)
    if labels.ndim != 1:
        raise KitError(f"{source}: labels of shape {labels.shape}; expected one label a row")
    return class_values(labels, competition, source, column)


def _indices(labels: np.ndarray, competition: Competition, source: str, column: str) -> np.ndarray:
    """One label a row (class indices, or class values as text) → class indices, checked."""
    if labels.dtype.kind in "iufb":
        class_values(labels, competition, source, column)
        return labels.astype(np.int64)
    find = class_finder(competition)
    indices = np.fromiter((find(value) for value in labels), dtype=np.int64, count=len(labels))
    if (indices < 0).any():
        row = int(np.argmax(indices < 0))
        raise fail(source, row, column, f"{labels[row]!r} is not a class ({competition.describe_classes()})")
    return indices


def prediction_cells(
    proba: np.ndarray, competition: Competition, source: str, labels: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The columns after the id of the competition's submission kind, from the probabilities ``(n, K)``;
    ``labels`` (a ``label`` submission only) replaces their argmax (0.5 threshold), e.g. by fitted thresholds."""
    proba = checked_probabilities(proba, competition, source)
    kind, columns = competition.submission_kind, competition.submission_columns[1:]
    if labels is not None and kind != "label":
        raise KitError(
            f"{source}: labels replace the probabilities of a label submission; {competition.name} submits {kind}"
        )
    if labels is not None and len(labels) != len(proba):
        raise KitError(f"{source}: {len(proba)} rows of probabilities but {len(labels)} labels")
    if kind == "probability":
        return {columns[0]: proba[:, 1]}
    if kind == "probabilities":
        return {column: proba[:, j] for j, column in enumerate(columns)}
    if kind == "top_k":
        ranked = np.argsort(-proba, axis=1, kind="stable")[:, : competition.top_k]
        return {columns[0]: label_cells(ranked, competition, source)}
    return {
        columns[0]: label_cells(chosen_labels(proba, competition) if labels is None else labels, competition, source)
    }
