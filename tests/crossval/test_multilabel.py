"""Multi-label targets (a Plant-Pathology-like competition: 4 labels, patients as groups, mean column-wise ROC AUC):
sigmoid fold models on binary cross-entropy, per-label OOF and test arrays, run-folder checks that accept a 0/1
label matrix and sigmoid models (and refuse them in a single-label run), ensembles combined label by label (votes,
stack, pseudo-labels, distillation, TTA), and single-label runs bit-identical to before multi-label targets."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
from image_data import build, write_spec

import kit
from conftest import tiny_recipe_toml
from kit.competitions import get_metric, softmax_scores
from kit.crossval import RunFolder, run_cv
from kit.crossval._results import class_labels, probabilities
from kit.ensemble._pseudo import confident_rows
from kit.ensemble._stacking import fit_stack
from kit.errors import KitError
from kit.recipes import load_recipe

TINY = tiny_recipe_toml("a tiny multi-label CNN", epochs=2)
# oof.npy and test.npy of the tiny pixel run below, recorded on this project's CPU machine before multi-label
# targets existed: a single-label run must give the same bits (another CPU, BLAS or TensorFlow may differ).
BEFORE = {
    "oof.npy": "b9dcef4561a2e05b321727cc3014533e41d547a724ac191b5eaa58a1532e4685",
    "test.npy": "a3eaf488cdc644f960db397df4d850d01e41bc53289055af6908b4d19729e743",
}


def recipe_at(folder):
    path = folder / "tiny.toml"
    path.write_text(TINY)
    return load_recipe(str(path))


def test_confident_rows_of_a_multilabel_task_are_sure_of_every_label():
    proba = np.array([[0.995, 0.001, 0.999], [0.995, 0.5, 0.999], [0.002, 0.003, 0.991], [0.2, 0.9, 0.4]])
    rows, labels, sure = confident_rows(proba, 0.99, multilabel=True)
    assert rows.tolist() == [0, 2] and labels.tolist() == [[1, 0, 1], [0, 0, 1]]
    assert sure == pytest.approx([0.995, 0.991])
    assert confident_rows(proba[:, :2] / proba[:, :2].sum(1, keepdims=True), 0.99)[0].tolist() == [0]  # softmax


def test_run_folder_checks_accept_a_label_matrix_and_sigmoid_rows(tmp_path):
    labels, proba = tmp_path / "labels.npy", tmp_path / "oof.npy"
    np.save(labels, np.array([[1, 0, 1], [0, 0, 0]], dtype=np.uint8))
    assert class_labels(labels, 2, 3).shape == (2, 3)
    np.save(proba, np.array([[0.9, 0.8, 0.7], [0.1, 0.0, 0.2]], dtype=np.float32))
    assert probabilities(proba, (2, 3), multilabel=True).shape == (2, 3)
    with pytest.raises(KitError, match=r"oof.npy: not probabilities \(row 0 sums to 2.4000\)"):
        probabilities(proba, (2, 3))
    np.save(labels, np.array([[1, 0, 2], [0, 0, 0]], dtype=np.uint8))
    with pytest.raises(KitError, match=r"labels.npy: damaged \(row 0 has label \[1, 0, 2\], a label matrix holds 0"):
        class_labels(labels, 2, 3)
    np.save(labels, np.array([[1, 0], [0, 0]], dtype=np.uint8))
    with pytest.raises(KitError, match=r"labels.npy: damaged \(shape 2×2, expected 2×3\)"):
        class_labels(labels, 2, 3)
    np.save(proba, np.array([[1.5, 0.8, 0.7], [0.1, 0.0, 0.2]], dtype=np.float32))
    with pytest.raises(KitError, match=r"oof.npy: not label probabilities \(values outside \[0, 1\]\)"):
        probabilities(proba, (2, 3), multilabel=True)


def test_stacking_fits_one_logistic_regression_per_label():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (200, 3))
    labels[:, 2] = labels[:, 0] & labels[:, 1]
    informative = np.clip(np.where(labels == 1, 0.7, 0.3) + rng.normal(0, 0.15, labels.shape), 0.01, 0.99)
    noise = rng.uniform(0.01, 0.99, labels.shape)
    folds = np.array_split(rng.permutation(200), 4)
    stack = fit_stack([informative, noise], [informative[:10], noise[:10]], labels, folds)
    assert stack.oof.shape == (200, 3) and stack.test.shape == (10, 3)
    assert ((stack.oof >= 0) & (stack.oof <= 1)).all() and not np.allclose(stack.oof.sum(axis=1), 1)
    assert stack.coefficients.shape == (3, 4)  # per label: off and on log-probabilities of the two runs
    assert (stack.coefficients[:, 1] > np.abs(stack.coefficients[:, 3])).all()  # the informative run weighs most
    assert softmax_scores(stack.oof, labels)[1] < softmax_scores(informative, labels)[1]
    constant = labels.copy()
    constant[:, 1] = 0
    with pytest.raises(KitError, match="a fold's other rows hold label 2 always 0"):
        fit_stack([informative], [informative], constant, folds)


@pytest.mark.slow
def test_tta_averages_sigmoid_rows_without_renormalising():
    from kit.ensemble._tta import augmented_softmax

    recipe = load_recipe("demo")
    images = np.zeros((3, 28, 28, 1), dtype=np.uint8)
    calls = iter([np.full((3, 2), 0.9), np.full((3, 2), 0.7), np.full((3, 2), 0.5)])
    mean = augmented_softmax(lambda _: next(calls), images, recipe.augment, copies=2)
    assert mean == pytest.approx(np.full((3, 2), 0.7))


@pytest.mark.slow
def test_multilabel_models_and_model_files():
    import keras

    from kit.crossval._infer import model_problem
    from kit.engine import build_model, training_dataset
    from kit.engine._modelcache import model_key

    recipe = load_recipe("demo")
    model = build_model(recipe, (28, 28, 1), 4, seed=0, multilabel=True)
    assert model.layers[-1].activation is keras.activations.sigmoid and model.layers[-1].dtype == "float32"
    assert isinstance(model.loss, keras.losses.BinaryCrossentropy)
    assert model_key(recipe, (28, 28, 1), 4, 100) != model_key(recipe, (28, 28, 1), 4, 100, multilabel=True)
    assert model_problem(model, 4, (28, 28, 1), multilabel=True) is None
    problem = model_problem(model, 4, (28, 28, 1))
    assert problem.startswith("does not end in a softmax") and problem.endswith("the run is single-label)")
    softmax = build_model(recipe, (28, 28, 1), 4, seed=0)
    assert "does not end in a sigmoid" in model_problem(softmax, 4, (28, 28, 1), multilabel=True)
    matrix = np.array([[1, 0, 1, 0], [0, 1, 1, 1]], dtype=np.uint8)
    dataset, _ = training_dataset(np.zeros((2, 28, 28, 1), np.uint8), matrix, 4, 2, recipe.augment, 0)
    targets = next(iter(dataset))[1].numpy()
    assert targets.dtype == np.float32 and sorted(map(tuple, targets)) == sorted(map(tuple, matrix))


@pytest.fixture(scope="module")
def pathology(tmp_path_factory):
    """Two finished runs of the pathology competition: ``a`` by ``kit cv tiny --data data`` (recipe in ./recipes),
    ``b`` through the library with another fold seed."""
    folder = tmp_path_factory.mktemp("pathology")
    write_spec(build("pathology", folder / "data"))
    (folder / "recipes").mkdir()
    (folder / "recipes" / "tiny.toml").write_text(TINY)
    command = [sys.executable, "-m", "kit", "cv", "tiny", "--data", "data", "--out", "runs/a"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    assert done.returncode == 0, done.stderr
    recipe = recipe_at(folder).with_overrides({"cv.seed": 4})
    run_cv(recipe, folder / "data", out=folder / "runs" / "b", overrides={"cv.seed": 4})
    return folder


@pytest.mark.slow
def test_a_multilabel_run_holds_per_label_sigmoids(pathology):
    run = kit.load_run(pathology / "runs" / "a")
    oof, labels = run.oof, run.labels
    assert run.multilabel and oof.shape == (120, 4) and labels.shape == (120, 4) and run.test.shape == (30, 4)
    assert ((oof >= 0) & (oof <= 1)).all() and not np.allclose(oof.sum(axis=1), 1, atol=1e-2)
    assert run.metric == "mean_roc_auc" and run.summary.metric == "mean_roc_auc"
    assert run.oof_score == get_metric("mean_roc_auc").score(labels, oof)
    assert run.oof_accuracy == softmax_scores(oof, labels)[0]
    assert len(run.models()) == 2  # the sigmoid fold models pass the model file checks


@pytest.mark.slow
def test_no_patient_is_split_between_a_folds_training_and_validation_rows(pathology):
    folder = RunFolder(pathology / "runs" / "a")
    train = folder.images("train", pathology / "data")  # run a recorded its data folder as given: "data"
    assert np.array_equal(train.labels, np.load(folder.labels_path))
    everything = np.arange(len(train))
    for fold in (1, 2):
        val = np.load(folder.val_rows_path(fold))
        training = np.setdiff1d(everything, val)
        assert not set(train.groups[val]) & set(train.groups[training])


@pytest.mark.slow
def test_predict_combines_the_runs_label_by_label(pathology, tmp_path):
    runs = [pathology / "runs" / "a", pathology / "runs" / "b"]
    a, b = (kit.load_run(path) for path in runs)
    voted = kit.predict(runs, name="vote", out=tmp_path, data=pathology / "data").ensemble
    assert voted.test.shape == (30, 4) and np.allclose(voted.test, (a.test + b.test) / 2)
    assert np.allclose(voted.oof, (a.oof + b.oof) / 2)
    weighted = kit.predict(runs, name="weighted", out=tmp_path, weights=[3, 1], data=pathology / "data")
    assert np.allclose(weighted.ensemble.test, 0.75 * a.test + 0.25 * b.test)
    for way in ("select", "auto_weights", "stack"):
        ensemble = kit.predict(runs, name=way, out=tmp_path, data=pathology / "data", **{way: True}).ensemble
        assert ensemble.oof.shape == (120, 4) and ensemble.test.shape == (30, 4)
        assert ((ensemble.test >= 0) & (ensemble.test <= 1)).all()
        assert not np.allclose(ensemble.test.sum(axis=1), 1, atol=1e-2)  # independent labels, not a softmax
        assert all(np.isfinite(score).all() for score in ensemble.scores.values())


@pytest.mark.slow
def test_pseudo_labels_and_distillation_of_a_multilabel_ensemble(pathology, tmp_path):
    from kit.ensemble import distill, pseudo_rows

    runs = [pathology / "runs" / "a", pathology / "runs" / "b"]
    pseudo = pseudo_rows(runs, threshold=0.55)
    assert pseudo.labels.shape == (len(pseudo), 4) and set(np.unique(pseudo.labels)) <= {0, 1}
    student = distill(
        runs,
        recipe_at(tmp_path),
        holdout=0.2,
        pseudo_threshold=0.55,
        epochs=1,
        out=tmp_path / "student",
        submissions=tmp_path,
        data_dir=pathology / "data",
    )
    assert student.test.shape == (30, 4) and not np.allclose(student.test.sum(axis=1), 1, atol=1e-2)
    assert student.record["pseudo"]["rows"] == len(pseudo)


@pytest.mark.slow
def test_a_single_label_run_gives_the_same_bits_as_before(tmp_path, tiny_dir):
    recipe = load_recipe(str(_write(tmp_path / "tiny.toml", tiny_recipe_toml("baseline", epochs=2))))
    run_cv(recipe, tiny_dir, out=tmp_path / "run")
    found = {name: hashlib.sha256((tmp_path / "run" / name).read_bytes()).hexdigest() for name in BEFORE}
    assert found == BEFORE


def _write(path, text):
    path.write_text(text)
    return path
