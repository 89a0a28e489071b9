"""The metrics of Kaggle's image competitions, each against scikit-learn or a hand count: the conventions of
binary, multi-label and ordinal targets, MAP@k's names and ranks, and QWK's fitted cut points."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, log_loss, roc_auc_score

from kit.competitions._metrics import METRIC_NAMES, METRICS, get_metric, is_metric_name, top_k
from kit.competitions._thresholds import (
    crossfit_qwk_thresholds,
    expected_grade,
    fit_qwk_thresholds,
    grades_from_thresholds,
)
from kit.errors import KitError


def one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


@pytest.fixture
def softmax():
    rng = np.random.default_rng(7)
    proba, truth = rng.dirichlet(np.ones(4), size=30), rng.integers(0, 4, 30)
    proba[0], truth[0] = [1, 0, 0, 0], 1  # a confident wrong answer: the clip decides its loss
    return truth, proba


@pytest.fixture
def multilabel():
    rng = np.random.default_rng(3)
    truth = (rng.random((40, 3)) < 0.4).astype(int)
    proba = np.clip(truth * 0.3 + rng.random((40, 3)) * 0.7, 0, 1)
    return truth, proba


def test_the_first_three_metrics_keep_their_numbers(softmax):
    truth, proba = softmax
    assert METRICS["accuracy"].score(truth, proba) == 0.36666666666666664
    assert METRICS["log_loss"].score(truth, proba) == 3.096666855112679
    assert METRICS["macro_f1"].score(truth, proba) == 0.31666666666666665
    labels = np.array([0, 0, 1, 1, 2, 2] * 5)
    assert METRICS["macro_f1"].score_labels(truth, labels, 5) == 0.22294372294372292
    assert METRICS["accuracy"].score_labels(truth, labels, 5) == 0.26666666666666666


def test_single_label_metrics_match_scikit_learn(softmax):
    truth, proba = softmax
    labels = proba.argmax(axis=1)
    assert METRICS["micro_f1"].score(truth, proba) == pytest.approx(f1_score(truth, labels, average="micro"))
    assert METRICS["micro_f1"].score(truth, proba) == pytest.approx(METRICS["accuracy"].score(truth, proba))
    ovr = roc_auc_score(truth, proba, multi_class="ovr", average="macro")
    assert METRICS["roc_auc"].score(truth, proba) == pytest.approx(ovr)
    assert METRICS["mean_roc_auc"].score(truth, proba) == pytest.approx(ovr)
    kappa = cohen_kappa_score(truth, labels, weights="quadratic")
    assert METRICS["qwk"].score(truth, proba) == pytest.approx(kappa)


def test_binary_metrics_take_the_probability_of_class_one():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 50)
    positive = np.clip(truth * 0.2 + rng.random(50) * 0.8, 0.01, 0.99)
    proba = np.column_stack([1 - positive, positive])
    assert METRICS["log_loss"].score(truth, proba) == pytest.approx(log_loss(truth, positive), rel=1e-12)
    assert METRICS["roc_auc"].score(truth, proba) == pytest.approx(roc_auc_score(truth, positive))
    assert METRICS["roc_auc"].score(truth, positive) == METRICS["roc_auc"].score(truth, proba)  # a 1-D submission
    assert METRICS["mean_roc_auc"].score(truth, proba) == pytest.approx(roc_auc_score(truth, positive))
    with pytest.raises(KitError, match="roc_auc is undefined") as error:
        METRICS["roc_auc"].score(np.ones(50, dtype=int), proba)
    one_line(error)


def test_multilabel_metrics(multilabel):
    truth, proba = multilabel
    labels = (proba >= 0.5).astype(int)
    assert METRICS["accuracy"].score(truth, proba) == pytest.approx(accuracy_score(truth, labels))
    assert METRICS["accuracy"].score(truth, proba) == pytest.approx(np.mean((truth == labels).all(axis=1)))
    assert METRICS["macro_f1"].score(truth, proba) == pytest.approx(f1_score(truth, labels, average="macro"))
    assert METRICS["micro_f1"].score(truth, proba) == pytest.approx(f1_score(truth, labels, average="micro"))
    assert METRICS["roc_auc"].score(truth, proba) == pytest.approx(roc_auc_score(truth, proba, average="macro"))
    assert METRICS["mean_roc_auc"].score(truth, proba) == pytest.approx(roc_auc_score(truth, proba))
    columns = [log_loss(truth[:, j], np.clip(proba[:, j], 1e-15, 1 - 1e-15)) for j in range(3)]
    assert METRICS["log_loss"].score(truth, proba) == pytest.approx(np.mean(columns), rel=1e-9)
    assert METRICS["macro_f1"].score_labels(truth, labels, 3) == METRICS["macro_f1"].score(truth, proba)


def test_multilabel_log_loss_clips_like_the_softmax():
    truth, proba = np.array([[1, 0]]), np.array([[0.0, 0.0]])
    assert METRICS["log_loss"].score(truth, proba) == pytest.approx(-np.log(1e-15) / 2, rel=1e-6)


def test_mean_roc_auc_leaves_out_constant_labels(multilabel):
    truth, proba = multilabel
    truth = truth.copy()
    truth[:, 1] = 0
    expected = np.mean([roc_auc_score(truth[:, j], proba[:, j]) for j in (0, 2)])
    assert METRICS["mean_roc_auc"].score(truth, proba) == pytest.approx(expected)
    with pytest.raises(KitError, match="mean_roc_auc is undefined") as error:
        METRICS["mean_roc_auc"].score(np.zeros_like(truth), proba)
    one_line(error)


def test_qwk_counts_distances_on_the_whole_scale():
    truth, labels = np.array([0, 0, 4, 4, 2]), np.array([0, 4, 4, 0, 4])  # grades 1 and 3 absent
    observed = np.zeros((5, 5))
    np.add.at(observed, (truth, labels), 1)
    weights = np.subtract.outer(np.arange(5), np.arange(5)) ** 2
    chance = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    by_hand = 1 - (weights * observed).sum() / (weights * chance).sum()
    assert METRICS["qwk"].score_labels(truth, labels, 5) == pytest.approx(by_hand)
    assert METRICS["qwk"].score_labels(truth, truth, 5) == 1.0
    assert METRICS["qwk"].score_labels(np.full(5, 2), np.full(5, 2), 5) == 0.0  # undefined


def test_map_at_k_by_hand():
    proba = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.2, 0.6]])
    truth = np.array([1, 2, 1])  # first, second, third
    assert METRICS["map_at_5"].score(truth, proba) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert get_metric("map_at_2").score(truth, proba) == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert get_metric("map_at_1").score(truth, proba) == pytest.approx(METRICS["accuracy"].score(truth, proba))
    assert top_k(proba, 4).tolist() == [[1, 2, 0, -1], [0, 2, 1, -1], [2, 0, 1, -1]]  # ties by class index
    lists = np.array([[1, -1, -1], [0, 2, -1], [0, 2, 1]])
    assert get_metric("map_at_3").score_labels(truth, lists, 3) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert get_metric("map_at_2").score_labels(truth, lists, 3) == pytest.approx((1 + 1 / 2) / 3)
    assert get_metric("map_at_3").score_labels(truth, np.array([1, 2, 0]), 3) == pytest.approx(2 / 3)
    assert get_metric("map_at_3").score_labels(np.array([1]), np.array([[1, 1, 0]]), 3) == 1.0  # a repeat counts once


def test_metric_names():
    assert METRIC_NAMES == (
        "accuracy",
        "log_loss",
        "macro_f1",
        "micro_f1",
        "roc_auc",
        "mean_roc_auc",
        "qwk",
        "map_at_5",
    )
    for k in (1, 5, 20):
        metric = get_metric(f"map_at_{k}")
        assert (metric.name, metric.k, metric.needs) == (f"map_at_{k}", k, "ranking")
        assert is_metric_name(f"map_at_{k}") and METRICS[f"map_at_{k}"] == metric
    for name in ("map_at_0", "map_at_21", "map_at_x", "map_at_05", "map_at_", "auc"):
        assert not is_metric_name(name)
        with pytest.raises(KitError, match=rf"^metric: must be one of accuracy, .*map_at_K .*got '{name}'$") as error:
            get_metric(name)
        one_line(error)
    with pytest.raises(KeyError):
        METRICS["map_at_21"]
    with pytest.raises(KitError, match="one of log_loss, accuracy, got 'map_at_3'"):
        get_metric("map_at_3", among=("log_loss", "accuracy"))
    assert get_metric("accuracy", argument="x", among=("accuracy",)) is METRICS["accuracy"]


def test_directions():
    for name in ("accuracy", "macro_f1", "micro_f1", "roc_auc", "mean_roc_auc", "qwk", "map_at_5"):
        assert get_metric(name).better(0.9, 0.8) and get_metric(name).loss([0, 1], [[0.9, 0.1], [0.2, 0.8]]) == -1
    assert METRICS["log_loss"].better(0.1, 0.2) and not METRICS["log_loss"].better(0.2, 0.1)


def test_metrics_refuse_targets_they_do_not_score(multilabel):
    truth, proba = multilabel
    assert METRICS["qwk"].supports("ordinal") and not METRICS["qwk"].supports("multilabel")
    assert all(METRICS[name].supports("multilabel") for name in ("accuracy", "log_loss", "macro_f1", "roc_auc"))
    for name in ("qwk", "map_at_5"):
        with pytest.raises(KitError, match=rf"^metric: {name} does not score a multilabel target") as error:
            METRICS[name].score(truth, proba)
        one_line(error)
    with pytest.raises(KitError, match="^metric: map_at_5 does not score a ordinal target"):
        METRICS["map_at_5"].check("ordinal")
    with pytest.raises(KitError, match="roc_auc needs class probabilities, got class labels"):
        METRICS["roc_auc"].score_labels(truth[:, 0], truth[:, 0], 2)
    with pytest.raises(KitError, match="3 columns of 0/1") as error:
        METRICS["accuracy"].score(truth * 2, proba)
    one_line(error)


def biased_ordinal(rows: int = 400, grades: int = 5, seed: int = 0):
    """Grade probabilities peaked 0.7 of a grade below the truth: argmax is biased, the expected grade ranks well."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, grades, rows)
    centre = truth - 0.7 + rng.normal(0, 0.3, rows)
    logits = -((np.arange(grades)[None, :] - centre[:, None]) ** 2) * 2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return truth, proba


def test_fitted_thresholds_beat_a_biased_argmax():
    truth, proba = biased_ordinal()
    qwk = METRICS["qwk"]
    cuts = fit_qwk_thresholds(truth, proba)
    assert cuts.shape == (4,) and np.all(np.diff(cuts) > 0)
    fitted = qwk.score_labels(truth, grades_from_thresholds(proba, cuts), 5)
    assert fitted > qwk.score(truth, proba) + 0.02
    assert np.array_equal(fit_qwk_thresholds(truth, proba), cuts)  # deterministic
    honest, all_rows = crossfit_qwk_thresholds(truth, proba)
    assert np.array_equal(all_rows, cuts) and qwk.score(truth, proba) < honest <= fitted


def test_honest_qwk_is_at_most_the_in_sample_qwk_on_noise():
    rng = np.random.default_rng(5)
    truth, proba = rng.integers(0, 5, 200), rng.dirichlet(np.ones(5), size=200)
    honest, cuts = crossfit_qwk_thresholds(truth, proba, folds=4, seed=2)
    in_sample = METRICS["qwk"].score_labels(truth, grades_from_thresholds(proba, cuts), 5)
    assert honest <= in_sample


def test_grades_from_thresholds():
    proba = np.array([[1.0, 0.0, 0.0], [0.3, 0.4, 0.3], [0.0, 0.4, 0.6], [0.0, 0.0, 1.0]])
    assert expected_grade(proba).tolist() == pytest.approx([0.0, 1.0, 1.6, 2.0])
    assert grades_from_thresholds(proba, [0.5, 1.5]).tolist() == [0, 1, 2, 2]
    assert grades_from_thresholds(proba, [0.5, 1.7]).tolist() == [0, 1, 1, 2]
    for bad in ([1.5, 0.5], [0.5], [0.5, 1.5, 2.5]):
        with pytest.raises(KitError, match="^thresholds: must be 2 increasing cut points") as error:
            grades_from_thresholds(proba, bad)
        one_line(error)
    with pytest.raises(KitError, match="^folds: must be a count"):
        crossfit_qwk_thresholds([0, 1, 2, 2], proba, folds=5)


def test_importing_the_metrics_loads_no_numpy():
    code = "import sys, kit.competitions._metrics, kit.competitions._thresholds; print('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
