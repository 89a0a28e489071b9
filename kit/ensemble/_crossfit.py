"""Honest scores of choices made on OOF rows: the one objective they optimise and the one cross-fitting helper.

A choice (weights, a greedy selection, a meta-model) scored on the rows it was made on flatters itself, so every
combiner also reports a cross-fitted softmax: each part of the rows predicted by a choice made on other rows only.
:func:`cross_fit_proba` does that for any (fit rows, score rows) splits: the two random halves of
:func:`halves` (fitted weights, selection), the complements of the runs' folds (:func:`fold_splits`, stacking) or the
inner stratified folds that choose the stack's regularisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from kit.competitions import CLIP, METRIC_NAMES, get_metric, softmax_scores
from kit.ensemble._members import soft_vote

METRICS = METRIC_NAMES  # the metrics a combination may be chosen by (map_at_K for any K too)
Model = TypeVar("Model")
Split = tuple[np.ndarray, np.ndarray]  # (rows a choice is made on, rows it then predicts)


def fast_scores(labels: np.ndarray) -> Callable[[np.ndarray], tuple[float, float]]:
    """:func:`kit.competitions.softmax_scores` of one class per row, in numpy (the same numbers, without
    scikit-learn's checks: an optimiser calls it thousands of times); other targets go through it as they are."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        return lambda proba: softmax_scores(proba, labels)
    rows = np.arange(len(labels))

    def scores(proba: np.ndarray) -> tuple[float, float]:
        clipped = np.clip(np.asarray(proba, dtype=np.float64), CLIP, 1.0)
        clipped /= clipped.sum(axis=1, keepdims=True)
        return float(np.mean(proba.argmax(axis=1) == labels)), float(-np.mean(np.log(clipped[rows, labels])))

    return scores


def objective(metric: str, labels: np.ndarray) -> Callable[[np.ndarray], float]:
    """A lower-is-better score of a softmax: the log loss, or the metric (negated where greater is better) with ties
    broken by the log loss."""
    scorer = get_metric(metric, among=METRICS)
    softmax_scores = fast_scores(labels)
    if metric == "log_loss":
        return lambda proba: softmax_scores(proba)[1]
    tie = 1.0 / (40 * max(len(labels), 1))  # the clipped log loss stays below -log(CLIP) ≈ 34.6: less than one row
    if metric == "accuracy":

        def score(proba: np.ndarray) -> float:
            accuracy, loss = softmax_scores(proba)
            return -accuracy + tie * loss

        return score
    return lambda proba: scorer.loss(labels, proba) + tie * softmax_scores(proba)[1]


def default_metric(competition_metric: str) -> str:
    """What a combination is chosen by when no metric is given: the competition's own where it scores probabilities
    or rankings (log loss, ROC AUC, MAP@k), else the log loss, a smooth stand-in for label metrics (accuracy, F1,
    QWK) whose steps make greedy choices noisy."""
    return competition_metric if get_metric(competition_metric).needs != "labels" else "log_loss"


def halves(rows: int, seed: int) -> list[Split]:
    """A random split of ``rows`` in two halves, as two splits: fit on the first half and score the second, then
    the other way round."""
    first, second = np.array_split(np.random.default_rng(seed).permutation(rows), 2)
    return [(first, second), (second, first)]


def fold_splits(folds: Sequence[np.ndarray], rows: int) -> list[Split]:
    """One split per fold: fit on every other row (ascending), score the fold's rows."""
    everything = np.arange(rows)
    return [(np.setdiff1d(everything, held, assume_unique=True), held) for held in folds]


def cross_fit_proba(
    splits: Sequence[Split],
    fit: Callable[[np.ndarray], Model],
    predict: Callable[[Model, np.ndarray], np.ndarray],
    shape: tuple[int, ...],
) -> tuple[np.ndarray, list[Model]]:
    """The cross-fitted probabilities (float64, ``shape``): for each split, ``fit(fit_rows)`` makes a choice and
    ``predict(choice, score_rows)`` fills the score rows. Returns them and the choice made on each split."""
    proba = np.zeros(shape, dtype=np.float64)
    chosen = []
    for fit_rows, score_rows in splits:
        model = fit(fit_rows)
        chosen.append(model)
        proba[score_rows] = predict(model, score_rows)
    return proba, chosen


def cross_fitted_vote(
    oofs: Sequence[np.ndarray],
    labels: np.ndarray,
    choose: Callable[[list[np.ndarray], np.ndarray], np.ndarray],
    seed: int = 0,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The soft vote of each random half of the rows with the weights ``choose(oofs, labels)`` picks on the other
    half; returns it and the weights chosen on each half (first half, then second)."""
    return cross_fit_proba(
        halves(len(labels), seed),
        fit=lambda rows: choose([oof[rows] for oof in oofs], labels[rows]),
        predict=lambda weights, rows: soft_vote([oof[rows] for oof in oofs], weights),
        shape=oofs[0].shape,
    )
