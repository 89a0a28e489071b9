"""Greedy ensemble selection: picks by hand, never worse than the best run in-sample, an honest cross-fitted score,
and `kit predict --select` end to end on run folders built from arrays (no training)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from test_ensemble import LABELS, OOF_A, OOF_B, TEST_A, TEST_B, make_run

from kit.competitions import softmax_scores
from kit.ensemble import SELECTED, SELECTED_HONEST, build_ensemble, greedy_counts, predict, select_runs, soft_vote
from kit.errors import KitError


def noisy_runs(rows: int = 400, classes: int = 4, runs: int = 6, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """One decent run and several that are mostly noise: softmaxes drawn around the true label with varying quality."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, rows)
    oofs = []
    for quality in np.linspace(2.0, 0.2, runs):
        logits = rng.normal(size=(rows, classes)) + quality * np.eye(classes)[labels]
        oofs.append(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    return oofs, labels


def test_greedy_counts_by_hand():
    # B alone has the lower log loss (-mean log [.2 .8 .8 .65] = 0.622 vs A's 0.932), so round 1 picks B; then
    # A+B (equal) scores 0.679 and B+B 0.622, so B again; the best prefix is B alone (ties go to the shorter one)
    counts, path = greedy_counts([OOF_A, OOF_B], LABELS, "log_loss", rounds=3)
    assert counts.tolist() == [0, 1]
    assert path[0] == pytest.approx(-np.mean(np.log([0.2, 0.8, 0.8, 0.65])))
    assert len(path) == 3


def test_greedy_counts_mix_runs_that_help_each_other():
    labels = np.array([0, 1])
    a = np.array([[0.9, 0.1], [0.6, 0.4]])  # right on row 0, wrong on row 1
    b = np.array([[0.4, 0.6], [0.1, 0.9]])  # wrong on row 0, right on row 1
    counts, _ = greedy_counts([a, b], labels, "accuracy", rounds=4)
    assert counts.tolist() == [1, 1]  # A+B votes [.65 .35], [.35 .65]: both right
    with pytest.raises(KitError, match=r"^metric: must be one of accuracy, log_loss, .*, got 'auc'$"):
        greedy_counts([a, b], labels, "auc")
    with pytest.raises(KitError, match=r"^rounds: must be at least 1, got 0$"):
        greedy_counts([a, b], labels, rounds=0)


@pytest.mark.parametrize("metric", ["log_loss", "accuracy"])
def test_selection_is_never_worse_than_the_best_run_and_its_honest_score_is_not_flattering(metric):
    oofs, labels = noisy_runs()
    selection = select_runs(oofs, labels, metric=metric)
    voted = soft_vote(oofs, selection.weights)
    best_single = min(softmax_scores(oof, labels)[1] for oof in oofs)
    if metric == "log_loss":
        assert softmax_scores(voted, labels)[1] <= best_single + 1e-12
        # chosen on the other half, each half scores worse than the selection chosen on all rows
        assert softmax_scores(selection.cross_fitted, labels)[1] >= softmax_scores(voted, labels)[1]
    else:
        assert softmax_scores(voted, labels)[0] >= max(softmax_scores(oof, labels)[0] for oof in oofs)
    assert selection.weights.sum() == pytest.approx(1.0)
    assert sum(selection.counts) <= selection.rounds and selection.counts[0] > 0  # the decent run is always in
    assert selection.cross_fitted.shape == oofs[0].shape
    assert selection.cross_fitted.sum(axis=1) == pytest.approx(np.ones(len(labels)))
    assert all(sum(half) >= 1 for half in selection.half_counts)


def test_build_ensemble_with_selection(tmp_path):
    runs = [make_run(tmp_path / "a", OOF_A, TEST_A), make_run(tmp_path / "b", OOF_B, TEST_B)]
    ensemble = build_ensemble(runs, select=True)
    assert ensemble.weighting == SELECTED
    assert set(ensemble.scores) == {"equal", SELECTED, SELECTED_HONEST}
    assert ensemble.weights == pytest.approx(np.array(ensemble.selection.counts) / sum(ensemble.selection.counts))
    assert ensemble.test == pytest.approx(soft_vote([TEST_A, TEST_B], ensemble.weights))
    assert [row["chosen"] for row in ensemble.member_scores()] == list(ensemble.selection.counts)
    with pytest.raises(KitError, match=r"^select and stack exclude each other"):
        build_ensemble(runs, select=True, stack=True)


def test_predict_select_writes_the_counts(tmp_path):
    runs = [make_run(tmp_path / "a", OOF_A, TEST_A), make_run(tmp_path / "b", OOF_B, TEST_B)]
    prediction = predict(runs, out=tmp_path / "subs", select=True, metric="accuracy")
    assert prediction.path.name == "a+b-select-accuracy.csv"  # the metric chosen is in the default name
    sidecar = json.loads(prediction.path.with_suffix(".json").read_text())
    assert sidecar["weighting"] == SELECTED and sidecar["selection"]["metric"] == "accuracy"
    assert sidecar["selection"]["counts"] == list(prediction.ensemble.selection.counts)
    assert set(sidecar["oof_scores"]) == {"equal", SELECTED, SELECTED_HONEST}
    assert np.load(prediction.path.with_suffix(".npy")) == pytest.approx(prediction.ensemble.test)


@pytest.mark.slow
def test_kit_predict_select_prints_the_chosen_runs(tmp_path):
    runs = [str(make_run(tmp_path / "a", OOF_A, TEST_A)), str(make_run(tmp_path / "b", OOF_B, TEST_B))]
    env = {**os.environ, "COLUMNS": "80", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "kit", "predict", *runs, "--out", str(tmp_path / "subs")]
    done = subprocess.run([*command, "--select"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "picks" in done.stdout and "selected, cross-fitted" in done.stdout
    assert "selection (log_loss, 10 picks): a ×1, b ×9" in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    both = subprocess.run([*command, "--select", "--stack"], capture_output=True, text=True, env=env)
    assert both.returncode == 1
    assert both.stderr.strip() == "error: --select and --stack exclude each other; pick one way to combine the runs"
