"""Cut points on the expected grade for a QWK-scored (ordinal) competition: instead of the most probable grade, a row
gets grade ``g`` when its expected grade ``sum_k k * p_k`` lies between the ``g``-th and ``(g+1)``-th cut points.

:func:`fit_qwk_thresholds` fits the ``K - 1`` cut points to maximise QWK on the rows given (a coordinate search from
0.5, 1.5, …: deterministic), :func:`grades_from_thresholds` applies them, and :func:`crossfit_qwk_thresholds` says
what fitting is worth honestly: each fold's grades come from cut points fitted on the other folds' rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kit.competitions._metrics import METRICS
from kit.errors import KitError

if TYPE_CHECKING:
    import numpy as np

ROUNDS = 20  # passes over the cut points; a search settles in a few
CANDIDATES = 128  # at most this many places tried for one cut point in one pass


def expected_grade(proba: np.ndarray) -> np.ndarray:
    """``sum_k k * p_k`` of each row of grade probabilities ``(n, K)``."""
    import numpy as np

    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise KitError.invalid("proba", "one row of grade probabilities per answer, K >= 2", proba.shape)
    return proba @ np.arange(proba.shape[1])


def grades_from_thresholds(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The grade of each row of ``proba``: how many of the ``K - 1`` increasing ``thresholds`` its expected grade
    reaches (0.5, 1.5, … rounds it)."""
    import numpy as np

    expected = expected_grade(proba)
    cuts = np.asarray(thresholds, dtype=np.float64)
    classes = np.asarray(proba).shape[1]
    if cuts.shape != (classes - 1,) or np.any(np.diff(cuts) <= 0):
        raise KitError.invalid("thresholds", f"{classes - 1} increasing cut points", cuts.tolist())
    return np.digitize(expected, cuts)


def _kappa(truth: np.ndarray, grades: np.ndarray, classes: int) -> float:
    """Quadratic weighted kappa from the confusion counts (scikit-learn's, fast enough to search with)."""
    import numpy as np

    observed = np.bincount(truth * classes + grades, minlength=classes * classes).reshape(classes, classes)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    weights = np.subtract.outer(np.arange(classes), np.arange(classes)) ** 2
    chance = float((weights * expected).sum())
    return 1.0 - float((weights * observed).sum()) / chance if chance else 0.0


def _candidates(expected: np.ndarray, low: float, high: float) -> np.ndarray:
    """Places for a cut point strictly between its neighbours ``low`` and ``high``: the midpoints between the
    expected grades there (and past the outermost), at most :data:`CANDIDATES` of them, evenly picked."""
    import numpy as np

    inside = np.unique(expected[(expected > low) & (expected < high)])
    if not inside.size:
        return inside
    left = low if np.isfinite(low) else inside[0] - 1.0
    right = high if np.isfinite(high) else inside[-1] + 1.0
    grid = np.concatenate([[left], inside, [right]])
    middles = (grid[1:] + grid[:-1]) / 2
    if middles.size > CANDIDATES:
        middles = middles[np.unique(np.linspace(0, middles.size - 1, CANDIDATES).round().astype(np.int64))]
    return middles


def _grades(truth: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The answers as int grades checked against ``proba``, the expected grades and the number of grades."""
    import numpy as np

    expected = expected_grade(proba)
    classes = np.asarray(proba).shape[1]
    truth = np.asarray(truth)
    if truth.shape != expected.shape or truth.min(initial=0) < 0 or truth.max(initial=0) >= classes:
        raise KitError(f"qwk: the answers must be {len(expected)} grades from 0 to {classes - 1}", argument="metric")
    return truth.astype(np.int64), expected, classes


def fit_qwk_thresholds(truth: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The ``K - 1`` increasing cut points on the expected grade that maximise QWK on these rows: a coordinate search
    from 0.5, 1.5, … that moves one cut point at a time to its best place between its neighbours, until a pass
    improves nothing (deterministic)."""
    import numpy as np

    truth, expected, classes = _grades(truth, proba)
    cuts = np.arange(classes - 1) + 0.5
    best = _kappa(truth, np.digitize(expected, cuts), classes)
    for _ in range(ROUNDS):
        moved = False
        for j in range(classes - 1):
            low = cuts[j - 1] if j else -np.inf
            high = cuts[j + 1] if j < classes - 2 else np.inf
            for place in _candidates(expected, low, high):
                trial = cuts.copy()
                trial[j] = place
                value = _kappa(truth, np.digitize(expected, trial), classes)
                if value > best + 1e-12:
                    best, cuts, moved = value, trial, True
        if not moved:
            break
    return cuts


def crossfit_qwk_thresholds(
    truth: np.ndarray, proba: np.ndarray, folds: int = 5, seed: int = 0
) -> tuple[float, np.ndarray]:
    """The honest QWK of fitted cut points (each fold's rows graded by cut points fitted on the other folds' rows,
    stratified by grade where every grade has ``folds`` rows, then scored together) and the cut points fitted on all
    rows, to apply to the test set."""
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    truth, _, classes = _grades(truth, proba)
    proba = np.asarray(proba)
    if not 2 <= folds <= len(truth):
        raise KitError.invalid("folds", f"a count from 2 to the {len(truth)} rows", folds)
    stratify = np.bincount(truth)[np.unique(truth)].min() >= folds
    splitter = (StratifiedKFold if stratify else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    grades = np.empty_like(truth)
    for fit_rows, held_rows in splitter.split(proba, truth):
        cuts = fit_qwk_thresholds(truth[fit_rows], proba[fit_rows])
        grades[held_rows] = grades_from_thresholds(proba[held_rows], cuts)
    return METRICS["qwk"].score_labels(truth, grades, classes), fit_qwk_thresholds(truth, proba)
