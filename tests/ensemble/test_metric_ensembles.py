"""kit predict optimises and reports the competition's metric: fitted weights choose by it, every method is scored in
it (honest estimates included), and an ordinal task scored by QWK can submit grades from cut points fitted on the OOF
rows, their score cross-fitted."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from image_data import build, write_spec

import kit
from conftest import tiny_recipe_toml
from kit.competitions import get_metric, grades_from_thresholds
from kit.ensemble import CROSS_FITTED, EQUAL
from kit.errors import KitError

pytestmark = pytest.mark.slow  # trains models


@pytest.fixture(autouse=True)
def _here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # recipes/ of the test's own folder
    (tmp_path / "recipes").mkdir()


def _runs(tmp_path, layout: str, seeds: tuple[int, ...]) -> tuple[object, list]:
    built = build(layout, tmp_path / layout)
    write_spec(built)
    runs = []
    for seed in seeds:
        (tmp_path / "recipes" / f"tiny{seed}.toml").write_text(tiny_recipe_toml(f"seed {seed}", epochs=2, seed=seed))
        runs.append(kit.cv(f"tiny{seed}", built.folder, out=tmp_path / "runs" / f"{layout}-{seed}").path)
    return built, runs


def test_fitted_weights_optimise_the_competitions_metric(tmp_path):
    _built, runs = _runs(tmp_path, "cactus", (1, 2))
    prediction = kit.predict(runs, name="auc", out=tmp_path / "subs", auto_weights=True)
    ensemble = prediction.ensemble
    auc = get_metric("roc_auc")
    assert ensemble.metric == "roc_auc"
    assert ensemble.metric_scores[EQUAL] == pytest.approx(
        auc.score(ensemble.labels, np.mean([m.oof for m in ensemble.members], axis=0))
    )
    fitted = ensemble.metric_scores["auto, in-sample"]
    assert fitted >= ensemble.metric_scores[EQUAL] - 1e-12  # the search starts at equal weights and keeps the best
    assert CROSS_FITTED in ensemble.metric_scores
    sidecar = json.loads((tmp_path / "subs" / "auc.json").read_text())
    assert sidecar["metric"] == "roc_auc" and set(sidecar["oof_metric_scores"]) >= {EQUAL, CROSS_FITTED}
    assert all("oof_metric" in row for row in sidecar["runs"])


def test_qwk_thresholds_write_grades_from_cut_points_scored_cross_fitted(tmp_path):
    _built, runs = _runs(tmp_path, "aptos", (1,))
    prediction = kit.predict(runs, name="graded", out=tmp_path / "subs", thresholds=True)
    record = prediction.sidecar["qwk_thresholds"]
    cuts = np.array(record["cuts"])
    assert len(cuts) == 4 and np.all(np.diff(cuts) >= 0)
    assert record["oof_qwk_argmax"] == pytest.approx(
        get_metric("qwk").score(prediction.ensemble.labels, prediction.ensemble.oof)
    )
    written = pd.read_csv(tmp_path / "subs" / "graded.csv")
    grades = grades_from_thresholds(prediction.ensemble.test, cuts)
    by_id = dict(zip(prediction.ensemble.test_ids.astype(str), grades))
    assert written["diagnosis"].tolist() == [by_id[str(i)] for i in written["id_code"].astype(str)]


def test_thresholds_are_refused_for_another_metric(tmp_path):
    _built, runs = _runs(tmp_path, "cactus", (1,))
    with pytest.raises(
        KitError, match="^thresholds: cut points on the expected grade are for an ordinal task scored by qwk"
    ):
        kit.predict(runs, name="nope", out=tmp_path / "subs", thresholds=True)
    assert not (tmp_path / "subs" / "nope.csv").exists()
