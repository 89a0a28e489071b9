"""Stacking: a multinomial logistic regression (the meta-model) on the runs' OOF log-softmaxes, cross-fitted on the
runs' own folds, then refit on every OOF row and applied to the runs' test softmaxes.

No leakage: a row's features are OOF softmaxes (from fold models that never saw it), and its stacked OOF prediction
comes from a meta-model fit only on the rows of the other folds (the folds of the first run, read from its
``fold-K/val_rows.npy``), so the stack's OOF score is as honest as a run's.

A multi-label task (labels a 0/1 matrix, rows × labels) is stacked label by label: one binary logistic regression per
label on the runs' log-probabilities of that label being off and on (:func:`label_features`), all with one C, the one
whose inner-CV log loss averaged over the labels is lowest; its probabilities are the labels' independent ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kit.competitions import METRICS
from kit.crossval import RunFolder
from kit.ensemble._crossfit import cross_fit_proba, fold_splits
from kit.errors import KitError
from kit.utils import load_array

FEATURE_FLOOR = 1e-7  # the meta-model's features are log-probabilities floored here (Keras' epsilon)
C = 1.0
CS = (0.01, 0.1, 1.0, 10.0)
INNER_FOLDS = 3
MAX_ITER = 1000
SOLVER = "newton-cg"  # ~20 Newton steps where lbfgs needs hundreds on saturated log-softmax features


def fold_rows(run: RunFolder, rows: int) -> list[np.ndarray]:
    """The validation rows of each of the run's folds (``fold-K/val_rows.npy``); they must cover every row once."""
    folds = [score.fold for score in run.summary().folds]
    parts = [load_array(run.val_rows_path(fold)).astype(np.int64) for fold in folds]
    covered = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if len(covered) != rows or not np.array_equal(np.sort(covered), np.arange(rows)):
        raise KitError(
            f"run {run.root}: its fold-K/val_rows.npy do not hold each of its {rows} OOF rows exactly once; "
            "train the run again to stack it"
        )
    return parts


def shared_fold_rows(runs: Sequence[RunFolder], rows: int) -> list[np.ndarray]:
    """The folds the meta-model is cross-fitted on: the first run's (runs trained with other seeds split otherwise;
    their OOF softmaxes are still out of fold for every row, so any one run's folds keep the stack honest)."""
    return fold_rows(runs[0], rows)


def features(probas: Sequence[np.ndarray]) -> np.ndarray:
    """The meta-features: each run's log-softmax (clipped away from 0), side by side."""
    return np.concatenate(
        [np.log(np.clip(np.asarray(p, dtype=np.float64), FEATURE_FLOOR, 1.0)) for p in probas], axis=1
    )


def label_features(probas: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The meta-features of a multi-label task, one matrix per label: each run's log-probabilities of that label
    being off and on (clipped away from 0), side by side."""
    return [features([np.stack([1 - p[:, k], p[:, k]], axis=1) for p in probas]) for k in range(probas[0].shape[1])]


def _fit(x: np.ndarray, y: np.ndarray, c: float):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    # one BLAS thread: these small problems run several times slower when BLAS threads compete for busy cores
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=c, solver=SOLVER, max_iter=MAX_ITER).fit(x, y)


def _predict(model, x: np.ndarray, classes: int) -> np.ndarray:
    """Class probabilities over all ``classes`` (a class the meta-model never saw gets 0)."""
    proba = np.zeros((len(x), classes))
    proba[:, model.classes_] = model.predict_proba(x)
    return proba


def _fit_all(x: Any, labels: np.ndarray, c: float) -> Any:
    """The meta-model of these rows: one multinomial logistic regression, or for 2-D labels one binary one per label
    (``x`` then holds a feature matrix per label)."""
    if labels.ndim == 1:
        return _fit(x, labels, c)
    return [_fit(part, labels[:, k], c) for k, part in enumerate(x)]


def _predict_all(model: Any, x: Any, classes: int) -> np.ndarray:
    """The probabilities of :func:`_fit_all`'s meta-model: over the ``classes``, or each label's own (a list)."""
    if not isinstance(model, list):
        return _predict(model, x, classes)
    return np.stack([_predict(part_model, part, 2)[:, 1] for part_model, part in zip(model, x)], axis=1)


def _rows(x: Any, rows: np.ndarray) -> Any:
    """Some rows of the features (of each label's, for a multi-label task)."""
    return x[rows] if isinstance(x, np.ndarray) else [part[rows] for part in x]


def choose_c(x: Any, labels: np.ndarray, grid: Sequence[float] = CS, inner: int = INNER_FOLDS) -> float:
    """The ``grid`` value of C with the lowest log loss in an inner stratified ``inner``-fold CV on these rows only
    (the default C when a class has too few rows to split). For 2-D labels (``x`` a feature matrix per label) the
    mean of the labels' log losses decides, and a label too rare to split gives the default C."""
    if len(grid) == 1:
        return float(grid[0])
    if labels.ndim == 2:
        losses = [inner_losses(part, labels[:, k], grid, inner) for k, part in enumerate(x)]
        return C if any(loss is None for loss in losses) else float(grid[int(np.argmin(np.mean(losses, axis=0)))])
    found = inner_losses(x, labels, grid, inner)
    return C if found is None else float(grid[int(np.argmin(found))])


def inner_losses(x: np.ndarray, labels: np.ndarray, grid: Sequence[float], inner: int) -> list[float] | None:
    """The inner stratified ``inner``-fold CV log loss of each C of ``grid`` on these rows; None when a class has
    fewer rows than ``inner``, or a single class is present (a label of a multi-label task always 0)."""
    counts = np.bincount(labels)
    present = counts[counts > 0]
    if len(present) < 2 or present.min() < inner:
        return None
    from sklearn.model_selection import StratifiedKFold

    splits = list(StratifiedKFold(n_splits=inner, shuffle=True, random_state=0).split(x, labels))
    classes = int(labels.max()) + 1

    def inner_loss(c: float) -> float:
        proba, _ = cross_fit_proba(
            splits,
            fit=lambda rows: _fit(x[rows], labels[rows], c),
            predict=lambda model, rows: _predict(model, x[rows], classes),
            shape=(len(labels), classes),
        )
        return METRICS["log_loss"].score(labels, proba)

    return [inner_loss(c) for c in grid]


def cross_fit(
    x: Any,
    labels: np.ndarray,
    folds: Sequence[np.ndarray],
    classes: int,
    c: float | None = None,
    on_fold: Callable[[], None] | None = None,
) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold meta-model probabilities: each fold's rows predicted by a model fit on the other folds' rows only,
    with ``c`` or (None) a C chosen by :func:`choose_c` on those other rows too (nested, so the choice stays honest).
    Returns the probabilities and the C of each fold. For 2-D labels ``x`` holds a feature matrix per label
    (:func:`label_features`) and each label gets its own meta-model."""

    def fit(train: np.ndarray) -> tuple[float, Any]:
        _check_both(labels[train])
        fold_c = choose_c(_rows(x, train), labels[train]) if c is None else c
        return fold_c, _fit_all(_rows(x, train), labels[train], fold_c)

    def predict(fitted: tuple[float, Any], rows: np.ndarray) -> np.ndarray:
        proba = _predict_all(fitted[1], _rows(x, rows), classes)
        if on_fold:
            on_fold()
        return proba

    oof, fitted = cross_fit_proba(fold_splits(folds, len(labels)), fit, predict, (len(labels), classes))
    return oof, [fold_c for fold_c, _ in fitted]


def _check_both(labels: np.ndarray) -> None:
    """One line when a fold's other rows cannot fit a meta-model: a single class, or a label always 0 (or 1)."""
    if labels.ndim == 1 and len(np.unique(labels)) < 2:
        raise KitError("a fold's other rows hold a single class; stacking needs at least two", argument="stack")
    constant = [k for k in range(labels.shape[1]) if len(np.unique(labels[:, k])) < 2] if labels.ndim == 2 else []
    if constant:
        raise KitError(
            f"a fold's other rows hold label {constant[0] + 1} always {int(labels[0, constant[0]])}; stacking a "
            "multi-label task needs both values of every label",
            argument="stack",
        )


@dataclass(frozen=True, eq=False)
class Stack:
    """A stacked ensemble: the meta-model's out-of-fold softmax, its test softmax (meta-model refit on every OOF row),
    the number of folds it was cross-fitted on, the inverse regularisation ``c`` of the final meta-model and
    ``fold_cs``, those of the cross-fitted ones (a multi-label stack: one C for all its labels' meta-models, and
    ``coefficients`` one row per label)."""

    oof: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)
    folds: int
    c: float
    fold_cs: tuple[float, ...]
    coefficients: np.ndarray = field(repr=False)


@dataclass(frozen=True, eq=False)
class MetaModel:
    """A fitted stack before it meets the test rows: its out-of-fold softmax, the folds and Cs it was cross-fitted
    with, and the final meta-model (refit on every OOF row) that :meth:`predict` applies to other softmaxes."""

    oof: np.ndarray = field(repr=False)
    folds: int
    c: float
    fold_cs: tuple[float, ...]
    model: Any = field(repr=False)

    def predict(self, probas: Sequence[np.ndarray]) -> np.ndarray:
        """The final meta-model's class probabilities for the runs' softmaxes ``probas`` of some rows (a multi-label
        stack: each label's probability)."""
        if isinstance(self.model, list):
            return _predict_all(self.model, label_features(probas), self.oof.shape[1])
        return _predict(self.model, features(probas), self.oof.shape[1])

    def stack(self, test: np.ndarray) -> Stack:
        """The :class:`Stack` record, with ``test`` (the meta-model's test softmax)."""
        models = self.model if isinstance(self.model, list) else [self.model]
        coefficients = np.concatenate([np.asarray(model.coef_) for model in models])
        return Stack(self.oof, test, folds=self.folds, c=self.c, fold_cs=self.fold_cs, coefficients=coefficients)


def fit_meta(
    oofs: Sequence[np.ndarray],
    labels: np.ndarray,
    folds: Sequence[np.ndarray],
    c: float | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> MetaModel:
    """Cross-fit the meta-model on ``folds`` of the runs' OOF softmaxes, then refit it on all rows.

    ``c`` fixes the meta-model's inverse regularisation; None chooses it from a grid by inner CV, fold by fold.
    ``on_step(done, total)`` is called after each meta-model (one per fold, then the final one).
    """
    if c is not None and not c > 0:
        raise KitError.invalid("c", "a positive inverse regularisation of the meta-model", c)
    classes = oofs[0].shape[1]
    x = label_features(oofs) if labels.ndim == 2 else features(oofs)
    done, total = 0, len(folds) + 1

    def step() -> None:
        nonlocal done
        done += 1
        if on_step:
            on_step(done, total)

    oof, fold_cs = cross_fit(x, labels, folds, classes, c, step)
    final_c = choose_c(x, labels) if c is None else c
    model = _fit_all(x, labels, final_c)
    step()
    return MetaModel(oof=oof, folds=len(folds), c=final_c, fold_cs=tuple(fold_cs), model=model)


def fit_stack(
    oofs: Sequence[np.ndarray],
    tests: Sequence[np.ndarray],
    labels: np.ndarray,
    folds: Sequence[np.ndarray],
    c: float | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> Stack:
    """Stack the runs' softmaxes: cross-fitted OOF softmax on ``folds``, then a refit on all rows for the test rows
    (see :func:`fit_meta`)."""
    meta = fit_meta(oofs, labels, folds, c, on_step)
    return meta.stack(meta.predict(tests))
