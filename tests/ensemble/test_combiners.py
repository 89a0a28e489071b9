"""The combiners behind one interface (fit on OOF rows, combine any rows, honest scores) and the one cross-fitting
helper they share."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import minimal_summary
from kit.competitions import softmax_scores
from kit.crossval import RunFolder
from kit.ensemble import (
    AUTO,
    CROSS_FITTED,
    EQUAL,
    SELECTED,
    SELECTED_HONEST,
    STACKED,
    Combiner,
    EqualWeights,
    FittedWeights,
    GivenWeights,
    GreedySelection,
    Stacked,
    cross_fitted,
    fit_weights,
    select_runs,
    soft_vote,
)
from kit.ensemble._combiners import choose_combiner
from kit.ensemble._crossfit import cross_fit_proba, cross_fitted_vote, fold_splits, halves, objective
from kit.ensemble._stacking import fit_stack
from kit.errors import KitError
from kit.utils import save_array, write_json


def noisy(seed: int = 0, rows: int = 60, classes: int = 3, runs: int = 3) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(rows) % classes
    oofs = []
    for run in range(runs):
        logits = rng.normal(size=(rows, classes)) + (1.5 - 0.5 * run) * np.eye(classes)[labels]
        oofs.append(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    return oofs, labels


def test_halves_and_fold_splits_score_every_row_once():
    for splits in (halves(11, seed=3), fold_splits([np.array([4, 0]), np.array([1, 3]), np.array([2, 5])], 6)):
        scored = np.concatenate([score for _, score in splits])
        assert sorted(scored.tolist()) == list(range(len(scored)))
        assert all(not set(fit.tolist()) & set(score.tolist()) for fit, score in splits)
    first, second = halves(11, seed=3)
    assert np.array_equal(first[0], second[1]) and np.array_equal(first[1], second[0])


def test_cross_fit_proba_predicts_each_part_with_a_choice_made_without_it():
    labels = np.array([0, 1, 1, 0, 1, 1])
    splits = fold_splits([np.array([0, 1, 2]), np.array([3, 4, 5])], len(labels))
    proba, chosen = cross_fit_proba(
        splits,
        fit=lambda rows: labels[rows].mean(),  # the share of class 1 on the other rows
        predict=lambda share, rows: np.tile([1 - share, share], (len(rows), 1)),
        shape=(len(labels), 2),
    )
    assert chosen == [pytest.approx(2 / 3), pytest.approx(2 / 3)]
    assert proba[:, 1] == pytest.approx([2 / 3] * 6) and proba.dtype == np.float64


def test_fitted_weights_and_selection_share_the_cross_fitting():
    oofs, labels = noisy()
    voted, weights = cross_fitted_vote(oofs, labels, lambda o, y: fit_weights(o, y, 1), seed=1)
    assert np.array_equal(voted, cross_fitted(oofs, labels, seed=1)) and len(weights) == 2
    selection = select_runs(oofs, labels, metric="accuracy", seed=2)
    assert np.array_equal(selection.cross_fitted, cross_fitted_vote(oofs, labels, _greedy("accuracy"), seed=2)[0])


def _greedy(metric: str):
    from kit.ensemble import greedy_counts

    return lambda o, y: greedy_counts(o, y, metric)[0]


def test_one_tie_break_for_fitted_weights_and_selection():
    oofs, labels = noisy(seed=4)
    score = objective("accuracy", labels)
    accuracy, loss = softmax_scores(oofs[0], labels)
    assert score(oofs[0]) == pytest.approx(-accuracy + loss / (40 * len(labels)))
    with pytest.raises(KitError, match=r"^metric: must be one of accuracy, log_loss, .*, got 'auc'$"):
        objective("auc", labels)


@pytest.mark.parametrize(
    ("combiner", "keys"),
    [
        (EqualWeights(), [EQUAL]),
        (GivenWeights([1, 2, 1], 3), ["given"]),
        (FittedWeights(seed=0), [AUTO, CROSS_FITTED]),
        (GreedySelection("log_loss", seed=0), [SELECTED, SELECTED_HONEST]),
    ],
)
def test_weighted_combiners_share_one_interface(combiner: Combiner, keys: list[str]):
    oofs, labels = noisy(seed=1)
    tests = [oof[:7] for oof in oofs]
    assert combiner.fit(oofs, labels) is combiner
    assert combiner.weights.sum() == pytest.approx(1.0) and combiner.weights.shape == (3,)
    assert np.array_equal(combiner.oof, soft_vote(oofs, combiner.weights))
    assert np.array_equal(combiner.combine(tests), soft_vote(tests, combiner.weights))
    scores = combiner.scores(labels)
    assert list(scores) == keys and scores[combiner.weighting] == softmax_scores(combiner.oof, labels)
    assert combiner.honest == keys[-1]
    assert set(combiner.details(combiner.combine(tests))) <= {"selection"}


def test_the_stack_combiner_is_out_of_fold_and_matches_fit_stack(tmp_path):
    oofs, labels = noisy(seed=2)
    folds = [np.arange(start, len(labels), 3) for start in range(3)]
    run = RunFolder(tmp_path / "run")
    for fold, rows in enumerate(folds, 1):
        run.fold_dir(fold).mkdir(parents=True)
        save_array(run.fold_dir(fold) / "val_rows.npy", rows)
    write_json(run.summary_path, minimal_summary(folds=(1, 2, 3)))
    steps = []
    stacked = Stacked([run], on_phase=lambda done, total: steps.append((done, total))).fit(oofs, labels)
    assert steps == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert stacked.weights is None and list(stacked.scores(labels)) == [STACKED] == [stacked.honest]
    tests = [oof[:5] for oof in oofs]
    record = stacked.details(stacked.combine(tests))["stack"]
    reference = fit_stack(oofs, tests, labels, folds)
    assert np.array_equal(record.oof, reference.oof) and np.array_equal(record.test, reference.test)
    assert record.oof is stacked.oof and (record.c, record.fold_cs, record.folds) == (reference.c, reference.fold_cs, 3)


def test_choose_combiner_picks_one_way():
    runs = [RunFolder("a"), RunFolder("b")]
    assert type(choose_combiner(runs)) is EqualWeights
    assert type(choose_combiner(runs, weights=[1, 3])) is GivenWeights
    assert type(choose_combiner(runs, auto_weights=True)) is FittedWeights
    assert type(choose_combiner(runs, select=True)) is GreedySelection
    assert type(choose_combiner(runs, stack=True)) is Stacked
    with pytest.raises(KitError, match=r"^auto_weights and select exclude each other"):
        choose_combiner(runs, auto_weights=True, select=True)
    with pytest.raises(KitError, match=r"^weights: 1 weights for 2 runs"):
        choose_combiner(runs, weights=[1])
