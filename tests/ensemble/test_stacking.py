"""Stacking: features, the runs' own folds, leakage (a label-equal feature must not score perfectly out of fold),
a stack that beats the soft vote where it should, and `kit predict --stack` on run folders built from arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_ensemble import make_run

from kit.competitions import softmax_scores
from kit.crossval import RunFolder
from kit.ensemble import STACKED, build_ensemble, predict
from kit.ensemble._stacking import CS, _fit, _predict, choose_c, cross_fit, features, fit_stack, fold_rows
from kit.errors import KitError
from kit.utils import save_array

CLASSES = 3


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def split(rows: int, folds: int, seed: int = 0) -> list[np.ndarray]:
    return [np.sort(part) for part in np.array_split(np.random.default_rng(seed).permutation(rows), folds)]


def with_folds(folder, parts: list[np.ndarray]):
    """Write the run's fold-K/val_rows.npy (and list the folds in its summary) as `kit cv` does."""
    run = RunFolder(folder)
    for fold, rows in enumerate(parts, start=1):
        save_array(run.fold_dir(fold) / "val_rows.npy", rows)
    summary = run.summary().to_json()
    summary["folds"] = [
        {"fold": fold, "epochs": 1, "val_accuracy": 0.5, "val_loss": 1.0, "seconds": 1.0}
        for fold in range(1, len(parts) + 1)
    ]
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_features_are_clipped_log_softmaxes_side_by_side():
    a, b = np.array([[1.0, 0.0]]), np.array([[0.25, 0.75]])
    assert features([a, b]) == pytest.approx(np.log([[1.0, 1e-7, 0.25, 0.75]]))


def test_a_label_feature_only_in_one_fold_does_not_leak_into_that_fold():
    """Run A's softmax reveals the label on fold 1's rows only and is uniform elsewhere; run B is noise. A meta-model
    fit on the other folds never sees A carry information, so fold 1 scores about chance; fit (or refit) on the rows
    it scores, it would read the labels off A and score perfectly — this test fails for that stacker."""
    rng = np.random.default_rng(0)
    rows = 300
    labels = rng.integers(0, CLASSES, rows)
    folds = split(rows, 3)
    run_a = np.full((rows, CLASSES), 1.0 / CLASSES)
    run_a[folds[0]] = 0.05 + 0.85 * np.eye(CLASSES)[labels[folds[0]]]
    run_b = softmax(rng.normal(size=(rows, CLASSES)))
    x = features([run_a, run_b])
    stacked, _ = cross_fit(x, labels, folds, CLASSES)
    honest = softmax_scores(stacked[folds[0]], labels[folds[0]])[0]
    assert honest < 0.6
    leaky = _predict(_fit(x, labels, 1.0), x[folds[0]], CLASSES)  # fit on the scored rows too
    assert softmax_scores(leaky, labels[folds[0]])[0] == 1.0


def test_memorising_noise_scores_chance_out_of_fold():
    """More noise features than rows: in-sample a weakly regularised logistic regression separates them perfectly;
    out of fold it is at chance."""
    rng = np.random.default_rng(1)
    rows, runs = 90, 60
    labels = rng.integers(0, CLASSES, rows)
    oofs = [softmax(3 * rng.normal(size=(rows, CLASSES))) for _ in range(runs)]
    x = features(oofs)
    assert softmax_scores(_predict(_fit(x, labels, 100.0), x, CLASSES), labels)[0] == 1.0
    assert softmax_scores(cross_fit(x, labels, split(rows, 5), CLASSES, c=100.0)[0], labels)[0] < 0.55
    assert choose_c(x, labels) == 0.01  # nested choice: the strongest regularisation of the grid for noise


def test_stack_learns_what_a_soft_vote_cannot():
    """Run A is confident but always names the next class; B is weak but right. The soft vote follows A; the stack
    learns A's permutation and beats it out of fold."""
    rng = np.random.default_rng(2)
    rows = 300
    labels = rng.integers(0, CLASSES, rows)
    run_a = softmax(4 * np.eye(CLASSES)[(labels + 1) % CLASSES] + rng.normal(size=(rows, CLASSES)))
    run_b = softmax(0.5 * np.eye(CLASSES)[labels] + rng.normal(size=(rows, CLASSES)))
    stack = fit_stack([run_a, run_b], [run_a[:10], run_b[:10]], labels, split(rows, 5))
    voted = softmax_scores((run_a + run_b) / 2, labels)[0]
    stacked = softmax_scores(stack.oof, labels)[0]
    assert voted < 0.2 and stacked > 0.9
    assert stack.folds == 5 and stack.test.shape == (10, CLASSES)
    assert len(stack.fold_cs) == 5 and set(stack.fold_cs) <= set(CS) and stack.c in CS
    assert stack.test.argmax(axis=1).tolist() == labels[:10].tolist()
    assert stack.oof.sum(axis=1) == pytest.approx(np.ones(rows))


def test_a_class_missing_from_the_other_folds_gets_zero_probability():
    labels = np.array([0, 0, 1, 1, 2, 0, 1, 0])  # class 2 only in fold 1
    x = np.eye(3)[labels] + 0.1
    stacked, _ = cross_fit(x, labels, [np.array([4]), np.array([0, 2, 5]), np.array([1, 3, 6, 7])], 3)
    assert stacked[4, 2] == 0.0 and stacked[4].sum() == pytest.approx(1.0)
    with pytest.raises(KitError, match=r"^c: must be a positive inverse regularisation of the meta-model, got 0"):
        fit_stack([x], [x], labels, [np.arange(4), np.arange(4, 8)], c=0)


def test_fold_rows_are_read_from_the_run_and_must_cover_every_row(tmp_path):
    rng = np.random.default_rng(3)
    oof = softmax(rng.normal(size=(4, CLASSES)))
    folder = with_folds(make_run(tmp_path / "a", oof, oof[:3]), [np.array([0, 3]), np.array([1, 2])])
    assert [part.tolist() for part in fold_rows(RunFolder(folder), 4)] == [[0, 3], [1, 2]]
    with_folds(folder, [np.array([0, 3]), np.array([1, 3])])
    with pytest.raises(KitError, match=r"^run .*a: its fold-K/val_rows.npy do not hold each of its 4 OOF rows"):
        fold_rows(RunFolder(folder), 4)


@pytest.mark.slow
def test_predict_stack_on_run_folders(tmp_path):
    rng = np.random.default_rng(4)
    rows, test_rows = 120, 7
    labels = rng.integers(0, CLASSES, rows)
    parts = split(rows, 3)
    runs = []
    for name, quality in (("a", 1.5), ("b", 0.8)):
        oof = softmax(quality * np.eye(CLASSES)[labels] + rng.normal(size=(rows, CLASSES)))
        test = softmax(rng.normal(size=(test_rows, CLASSES)))
        runs.append(with_folds(make_run(tmp_path / name, oof, test, labels=labels), parts))
    ensemble = build_ensemble(runs, stack=True)
    assert ensemble.weighting == STACKED and set(ensemble.scores) == {"equal", STACKED}
    assert ensemble.oof is ensemble.stack.oof and ensemble.stack.folds == 3
    assert all(row["weight"] is None for row in ensemble.member_scores())
    prediction = predict(runs, out=tmp_path / "subs", stack=True)
    assert prediction.path.name == "a+b-stack.csv"
    sidecar = json.loads(prediction.path.with_suffix(".json").read_text())
    assert sidecar["weighting"] == STACKED and sidecar["weights"] is None and sidecar["stack"]["folds"] == 3
    assert sidecar["oof_scores"][STACKED]["accuracy"] == pytest.approx(softmax_scores(ensemble.oof, labels)[0])
    assert np.load(prediction.path.with_suffix(".npy")) == pytest.approx(ensemble.test, abs=1e-6)
