"""kit auto's pseudo-label threshold: calibrated on the vote's OOF rows (label-smoothed members never reach 0.99),
trimmed so no fold ends in a tiny batch, skipped with its reason when too few test rows are confident."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from kit.autopilot._pseudo import TARGET_ACCURACY, fold_train_sizes, plan_pseudo
from kit.ensemble._pseudo import confident_rows


def smoothed(labels: np.ndarray, rng: np.random.Generator, classes: int = 10) -> np.ndarray:
    """Label-smoothed softmaxes (top 0.5–0.91): wrong in 1 of 1,000 rows above 0.8, in 1 of 4 below."""
    top = rng.uniform(0.5, 0.91, len(labels))
    wrong = rng.random(len(labels)) < np.where(top >= 0.8, 0.001, 0.25)
    proba = np.repeat(((1 - top) / (classes - 1))[:, None], classes, axis=1)
    proba[np.arange(len(labels)), np.where(wrong, (labels + 1) % classes, labels)] = top
    return proba


def members(rows=1500, test=300, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, rows)
    return [SimpleNamespace(labels=labels, oof=smoothed(labels, rng), test=smoothed(rng.integers(0, 10, test), rng))]


def test_the_threshold_is_calibrated_below_label_smoothings_ceiling():
    pool = members()
    plan = plan_pseudo(pool, batch_size=150, folds=5)
    assert plan.threshold is not None and plan.threshold < 0.91  # a fixed 0.99 would take no row at all
    assert 0 < plan.rows < 300 and "test rows at vote confidence" in plan.why
    rows, _, _ = confident_rows(np.mean([m.test for m in pool], axis=0), plan.threshold)
    assert len(rows) == plan.rows  # kit cv's own selection takes exactly the planned rows
    oof = pool[0].oof
    chosen = oof.max(axis=1) >= plan.threshold
    assert np.mean(oof[chosen].argmax(axis=1) == pool[0].labels[chosen]) >= TARGET_ACCURACY - 0.01


def test_no_fold_ends_in_a_tiny_batch():
    for batch in (128, 150, 64):
        plan = plan_pseudo(members(), batch_size=batch, folds=5)
        for size in fold_train_sizes(1500, 5):
            last = (size + plan.rows) % batch
            assert last == 0 or last >= batch // 4


def test_too_few_confident_rows_skip_the_round_with_the_reason():
    pool = members()
    pool[0].test = np.full((300, 10), 0.1)  # nothing confident
    plan = plan_pseudo(pool, batch_size=150, folds=5)
    assert plan.threshold is None and plan.why.startswith("only 0 of 300 test rows")
    unsure = members()
    unsure[0].oof = np.roll(unsure[0].oof, 1, axis=1)  # the vote is wrong everywhere: no calibration possible
    assert plan_pseudo(unsure, 150, 5).threshold is None


def test_multi_label_votes_keep_the_fixed_bar():
    pool = [SimpleNamespace(labels=np.zeros((20, 3), int), oof=np.full((20, 3), 0.5), test=np.full((10, 3), 0.995))]
    plan = plan_pseudo(pool, 8, 5)
    assert plan.threshold == 0.99 and plan.rows == 10


def test_kit_auto_trains_the_pseudo_member_with_the_calibrated_threshold(tmp_path, tiny_dir, monkeypatch):
    from test_loads import fake_run

    import kit
    from kit.autopilot import Candidate
    from kit.crossval import RunFolder
    from kit.utils import save_array

    labels = pd.read_csv(tiny_dir / "train.csv")["label"].to_numpy()
    test_rows = len(pd.read_csv(tiny_dir / "test.csv"))
    seen = {}

    def cv(recipe, data, out, competition=None, callbacks=(), overrides=None, **extra):
        seen[Path(out).name] = extra
        fake_run(Path(out), labels, test_rows, Path(data), 9.0, len(seen))  # confidently right out of fold
        rng = np.random.default_rng(len(seen))
        test = rng.dirichlet(np.ones(10), test_rows)
        test[:, 0] += 9.0  # every test row sure of class 0
        save_array(RunFolder(Path(out)).test_path, (test / test.sum(axis=1, keepdims=True)).astype(np.float32))
        return SimpleNamespace(oof_score=0.9, metric="accuracy")

    monkeypatch.setattr("kit.api.cv", cv)
    portfolio = [Candidate(name, "tiny") for name in "abc"] + [Candidate("p", "demo", pseudo=True)]
    out = tmp_path / "auto"
    kit.auto(tiny_dir, "10m", out=out, submissions=tmp_path / "subs", portfolio=portfolio, tta=False)
    state = json.loads((out / "auto.json").read_text())
    member = next(m for m in state["members"] if m["name"] == "p")
    assert member["status"] == "done" and 0.5 < member["pseudo_threshold"] < 0.99
    assert seen["p"]["threshold"] == member["pseudo_threshold"] and len(seen["p"]["pseudo"]) == 3
    said = [d["text"] for d in state["decisions"] if d["kind"] == "pseudo"]
    assert said and said[0].startswith("pseudo-label round: ") and f"of {test_rows} test rows" in said[0]
