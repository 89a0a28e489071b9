"""Soft voting: weighted averages by hand, run compatibility, fitted weights, TTA on real fold models, `kit predict`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import rerecord, tiny_recipe_toml
from kit.cli.ensemble import notes
from kit.crossval import RunFolder, run_cv
from kit.ensemble import (
    build_ensemble,
    cross_fitted,
    fit_weights,
    load_member,
    parse_weights,
    predict,
    soft_vote,
    with_tta,
)
from kit.errors import KitError
from kit.recipes import load_recipe
from kit.utils import save_array, write_json

LABELS = np.array([0, 1, 2, 1])
# Two runs' OOF softmaxes (4 rows × 3 classes) and test softmaxes (3 rows): every row sums to 1.
OOF_A = np.array([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7]])
OOF_B = np.array([[0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.3, 0.65, 0.05]])
TEST_A = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.4, 0.5, 0.1]])
TEST_B = np.array([[0.3, 0.6, 0.1], [0.2, 0.2, 0.6], [0.8, 0.1, 0.1]])


def make_run(folder: Path, oof, test, data_dir: Path | None = None, **changes) -> Path:
    """A finished run folder built from arrays (no training): summary.json, oof/labels/test/test_ids .npy."""
    run = RunFolder(folder)
    save_array(run.oof_path, np.asarray(oof, dtype=np.float32))
    save_array(run.test_path, np.asarray(test, dtype=np.float32))
    save_array(folder / "labels.npy", changes.pop("labels", LABELS))
    save_array(folder / "test_ids.npy", changes.pop("test_ids", np.arange(1, len(test) + 1)))
    summary = {
        "recipe": folder.name,
        "recipe_hash": f"hash-{folder.name}",
        "train_fingerprint": "train-rows",
        "test_fingerprint": "test-rows",
        "folds_total": 2,
        "seed": 0,
        "competition": "digit-recognizer",
        "data_dir": str(data_dir or folder / "no-data"),
        "data": {"train_rows": len(oof), "test_rows": len(test), "image_shape": [28, 28, 1], "classes": 3},
        "folds": [{"fold": k, "epochs": 1, "val_accuracy": 0.5, "val_loss": 1.0, "seconds": 1.0} for k in (1, 2)],
        "oof_accuracy": 0.5,
        "oof_loss": 1.0,
        "fold_accuracy_mean": 0.5,
        "fold_accuracy_std": 0.0,
        "train_seconds": 2.0,
        "finished_at": "2026-01-01T00:00:00+00:00",
        "recipe_content": {"model": {"blocks": [{"filters": 4}]}},
        **changes,
    }
    write_json(run.summary_path, summary)
    return folder


def leaning_runs(folder: Path, data_dir: Path, competition, seed: int, names=("a", "b")) -> list[Path]:
    """Finished runs on the competition folder ``data_dir`` (real fingerprints, arrays instead of training): OOF
    softmaxes leaning to the truth (half one-hot, half random), random test softmaxes."""
    from kit.data import load_test, load_train

    train, test = load_train(data_dir, competition), load_test(data_dir, competition)
    rng = np.random.default_rng(seed)
    made = []
    for name in names:
        oof = 0.5 * np.eye(10)[train.labels] + 0.5 * rng.dirichlet(np.ones(10), len(train))
        made.append(
            make_run(
                folder / name,
                oof,
                rng.dirichlet(np.ones(10) * 0.1, len(test)),
                data_dir=data_dir,
                labels=train.labels,
                test_ids=test.ids,
                train_fingerprint=train.fingerprint(),
                test_fingerprint=test.fingerprint(),
                data={"train_rows": len(train), "test_rows": len(test), "image_shape": [28, 28, 1], "classes": 10},
            )
        )
    return made


@pytest.fixture
def two_runs(tmp_path):
    return make_run(tmp_path / "a", OOF_A, TEST_A), make_run(tmp_path / "b", OOF_B, TEST_B)


def test_soft_vote_by_hand():
    assert soft_vote([OOF_A, OOF_B]) == pytest.approx((OOF_A + OOF_B) / 2)
    voted = soft_vote([TEST_A, TEST_B], [2, 1])
    assert voted == pytest.approx(np.array([[1.7, 1.0, 0.3], [0.4, 0.8, 1.8], [1.6, 1.1, 0.3]]) / 3)


def test_parse_weights():
    assert parse_weights("2,1", 2) == pytest.approx([2 / 3, 1 / 3])
    assert parse_weights("0.5, 0.5,1", 3) == pytest.approx([0.25, 0.25, 0.5])
    with pytest.raises(KitError, match=r"weights: must be comma-separated numbers, one per run, e.g. 2,1, got '2,x'"):
        parse_weights("2,x", 2)
    with pytest.raises(KitError, match=r"^weights: 1 weights for 2 runs; give one per run, e.g. 1,1"):
        parse_weights("3", 2)
    for bad in ("-1,2", "0,0", "nan,1"):
        with pytest.raises(KitError, match=r"must be non-negative numbers, not all zero"):
            parse_weights(bad, 2)


def test_weighted_ensemble_against_hand_computed_arrays(two_runs):
    ensemble = build_ensemble(two_runs, weights=[3, 1])
    assert ensemble.weights == pytest.approx([0.75, 0.25])
    assert ensemble.test == pytest.approx(0.75 * TEST_A + 0.25 * TEST_B)
    assert ensemble.oof == pytest.approx(0.75 * OOF_A + 0.25 * OOF_B)
    # by hand: 3:1 votes [.5 .4 .1], [.4 .5 .1], [.175 .25 .575], [.15 .3125 .5375] → classes 0, 1, 2, 2: 3 of 4 right
    assert ensemble.scores["given"] == pytest.approx((3 / 4, -np.mean(np.log([0.5, 0.5, 0.575, 0.3125]))))
    # equal weights vote [.4 .5 .1], [.3 .6 .1], [.15 .2 .65], [.2 .425 .375] → classes 1, 1, 2, 1: 3 of 4 right
    assert ensemble.scores["equal"] == pytest.approx((3 / 4, -np.mean(np.log([0.4, 0.6, 0.65, 0.425]))))
    assert ensemble.oof_accuracy == ensemble.scores["given"][0]
    assert ensemble.test_ids.tolist() == [1, 2, 3]


def test_members_average_their_folds_before_the_runs(two_runs, tmp_path):
    """A run's test.npy is its folds' mean, so a run of 2 folds and one of 5 count by their weights, not fold counts."""
    five = make_run(
        tmp_path / "five",
        OOF_B,
        TEST_B,
        folds=[{"fold": k, "epochs": 1, "val_accuracy": 0.5, "val_loss": 1.0, "seconds": 1.0} for k in range(1, 6)],
        folds_total=5,
    )
    ensemble = build_ensemble([two_runs[0], five])
    assert ensemble.test == pytest.approx((TEST_A + TEST_B) / 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"competition": "Kannada-MNIST"},
            r"its competition \(Kannada-MNIST\) differ from run .*a \(digit-recognizer\)",
        ),
        ({"train_fingerprint": "other"}, r"its training rows \(other\) differ from run .*a \(train-rows\)"),
        ({"test_fingerprint": "other"}, r"its test rows \(other\) differ"),
        ({"test_ids": np.array([2, 3, 4])}, r"its test ids differ from run"),
    ],
)
def test_mismatched_runs_fail_naming_the_run(tmp_path, change, message):
    first = make_run(tmp_path / "a", OOF_A, TEST_A)
    other = make_run(tmp_path / "odd", OOF_B, TEST_B, **change)
    with pytest.raises(KitError, match=rf"^run {re.escape(str(tmp_path))}/odd: {message}"):
        build_ensemble([first, other])


def test_other_shapes_duplicates_and_missing_runs_fail(two_runs, tmp_path):
    short = make_run(tmp_path / "short", OOF_B[:3], TEST_B, labels=LABELS[:3])
    with pytest.raises(KitError, match=r"run .*short: softmax shapes \(3, 3\) / \(3, 3\) differ"):
        build_ensemble([two_runs[0], short])
    with pytest.raises(KitError, match=r"run .*a: given twice; list each run once and weight it instead"):
        build_ensemble([two_runs[0], two_runs[1], str(two_runs[0]) + "/"])
    with pytest.raises(KitError, match=r"run .*nowhere: no summary.json there"):
        build_ensemble([two_runs[0], tmp_path / "nowhere"])
    (two_runs[1] / "test.npy").unlink()
    with pytest.raises(KitError, match=r"run .*b: no test.npy"):
        build_ensemble(two_runs)
    with pytest.raises(KitError, match=r"weights and auto_weights exclude each other"):
        build_ensemble(two_runs[:1], weights=[1], auto_weights=True)


def test_fitted_weights_maximise_oof_accuracy():
    # label 0 everywhere; weight w on run A votes row 1 right when w > 0.2, rows 2 and 3 when w < 0.857 and w < 1/3
    labels = np.zeros(3, dtype=int)
    a = np.array([[0.9, 0.1], [0.45, 0.55], [0.3, 0.7]])
    b = np.array([[0.4, 0.6], [0.8, 0.2], [0.6, 0.4]])
    weights = fit_weights([a, b], labels)
    assert weights.sum() == pytest.approx(1.0)
    assert 0.2 < weights[0] < 1 / 3
    assert soft_vote([a, b], weights).argmax(axis=1).tolist() == [0, 0, 0]  # equal weights get 2 of 3
    assert fit_weights([a], labels).tolist() == [1.0]


def test_auto_weights_report_the_in_sample_and_cross_fitted_scores(two_runs):
    ensemble = build_ensemble(two_runs, auto_weights=True)
    assert ensemble.weighting == "auto, in-sample"
    assert set(ensemble.scores) == {"equal", "auto, in-sample", "auto, cross-fitted"}
    assert ensemble.scores["auto, in-sample"][0] >= ensemble.scores["equal"][0]
    assert ensemble.oof == pytest.approx(soft_vote([OOF_A, OOF_B], ensemble.weights))
    honest = cross_fitted([OOF_A.repeat(3, 0), OOF_B.repeat(3, 0)], LABELS.repeat(3))
    assert honest.shape == (12, 3) and honest.sum(axis=1) == pytest.approx(np.ones(12))


def test_notes_state_the_gain_and_the_cross_fitted_score(two_runs, tmp_path):
    prediction = predict(two_runs, out=tmp_path, auto_weights=True)
    assert prediction.path.name == "a+b-auto.csv"
    assert set(prediction.sidecar["oof_scores"]) == {"equal", "auto, in-sample", "auto, cross-fitted"}
    [line] = notes(prediction)
    accuracy = prediction.ensemble.oof_accuracy
    assert line.startswith(f"ensemble OOF accuracy {accuracy:.4f} ({accuracy - 3 / 4:+.4f} vs the best run)")  # b: 3/4
    assert "on rows they were not fit on" in line


def test_tta_keeps_runs_without_augmentation_as_they_are(two_runs):
    member = load_member(two_runs[0])
    assert not member.recipe.augment.enabled
    assert with_tta(member, np.zeros((4, 28, 28, 1)), np.zeros((3, 28, 28, 1)), copies=3) is member


def test_predict_writes_a_checked_submission_and_its_sidecar(two_runs, tmp_path, competition):
    out = tmp_path / "subs"
    prediction = predict(two_runs, out=out, weights=[1, 3])
    assert prediction.path == out / "a+b-w0.333-1.csv"  # the weights are in the default name: no collision
    expected_labels = (0.25 * TEST_A + 0.75 * TEST_B).argmax(axis=1)
    assert prediction.path.read_text() == "ImageId,Label\n" + "".join(
        f"{i},{k}\n" for i, k in enumerate(expected_labels, 1)
    )
    sidecar = json.loads((out / "a+b-w0.333-1.json").read_text())
    assert sidecar["weights"] == pytest.approx([0.25, 0.75])
    assert [run["recipe_hash"] for run in sidecar["runs"]] == ["hash-a", "hash-b"]
    assert [run["oof_accuracy"] for run in sidecar["runs"]] == pytest.approx([2 / 4, 3 / 4])
    assert sidecar["oof_accuracy"] == pytest.approx(np.mean((0.25 * OOF_A + 0.75 * OOF_B).argmax(axis=1) == LABELS))
    assert sidecar["checked_against"] == "digit-recognizer format (ids 1…3)"
    assert sidecar["created_at"] and sidecar["rows"] == 3 and sidecar["competition"] == "digit-recognizer"
    with pytest.raises(KitError, match=r"a\+b-w0.333-1.csv exists; pass force=True or name=\.\.\.$"):
        predict(two_runs, out=out, weights=[1, 3])
    assert json.loads((out / "a+b-w0.333-1.json").read_text()) == sidecar
    again = predict(two_runs, out=out, name="a+b-w0.333-1", force=True)
    assert again.sidecar["weights"] == pytest.approx([0.5, 0.5])
    with pytest.raises(KitError, match=r"name: must be a plain file name .*, got '../x'"):
        predict(two_runs, name="../x", out=out)


def test_predict_checks_against_sample_submission(two_runs, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "sample_submission.csv").write_text("ImageId,Label\n1,0\n2,0\n3,0\n")
    prediction = predict(two_runs, name="ok", out=tmp_path, data=data)
    assert prediction.sidecar["checked_against"] == str(data / "sample_submission.csv")
    (data / "sample_submission.csv").write_text("ImageId,Label\n1,0\n2,0\n3,0\n4,0\n")
    with pytest.raises(KitError, match=r"bad.csv: 3 rows; the test set has 4 images"):
        predict(two_runs, name="bad", out=tmp_path, data=data)
    assert not (tmp_path / "bad.csv").exists()


TINY = tiny_recipe_toml("a tiny CNN for ensemble tests", batch_size=64, seed=1, augment="rotation = 10.0\nzoom = 0.1")


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, tiny_dir):
    """One tiny real `kit cv` run (2 folds, 1 epoch, 200 images) with fold models for TTA."""
    folder = tmp_path_factory.mktemp("real")
    (folder / "tiny.toml").write_text(TINY)
    run_cv(load_recipe(str(folder / "tiny.toml")), tiny_dir, out=folder / "tiny")
    return folder / "tiny"


@pytest.mark.slow
def test_tta_with_no_copies_reproduces_the_fold_predictions(real_run, tiny_dir):
    member = load_member(real_run)
    train, test = member.run.images("train").images, member.run.images("test").images
    plain = with_tta(member, train, test, copies=0)
    assert plain.oof == pytest.approx(member.oof, abs=1e-5)
    assert plain.test == pytest.approx(member.test, abs=1e-5)
    augmented = with_tta(member, train, test, copies=2)
    assert augmented.tta == 2 and augmented.plain_oof is member.oof and augmented.tta_engine == "tflite float32"
    assert not np.allclose(augmented.test, member.test, atol=1e-4)
    assert augmented.test.sum(axis=1) == pytest.approx(np.ones(len(test)), abs=1e-5)
    ensemble = build_ensemble([real_run], tta=2)
    assert ensemble.test == pytest.approx(augmented.test, abs=1e-5)  # seeded: the same copies every time
    quantized = build_ensemble([real_run], tta=2, tta_precision="int8")
    assert quantized.test == pytest.approx(augmented.test, abs=0.05) and not np.array_equal(
        quantized.test, ensemble.test
    )
    with pytest.raises(KitError, match=r"^tta_precision: must be one of float32, int8, got 'fp16'$"):
        build_ensemble([real_run], tta=2, tta_precision="fp16")


def test_tta_refuses_other_images(real_run, tmp_path, tiny_dir):
    shutil.copy(tiny_dir / "test.csv", tmp_path / "test.csv")
    (tmp_path / "train.csv").write_text((tiny_dir / "train.csv").read_text().replace("\n5,", "\n6,", 1))
    with pytest.raises(KitError, match=r"train.csv: not the train rows of run .*tiny \(fingerprint"):
        build_ensemble([real_run], tta=1, data_dir=tmp_path)


@pytest.mark.slow
def test_select_and_stack_on_a_real_run_and_its_folds(real_run, tmp_path):
    """End to end on a trained run: the stack is cross-fitted on the run's own fold-K/val_rows.npy."""
    other = tmp_path / "tiny-copy"
    shutil.copytree(real_run, other)
    noisy = np.load(real_run / "oof.npy") * 0.5 + 0.05
    save_array(other / "oof.npy", noisy.astype(np.float32))
    rerecord(other)  # a second run, as if kit had written it
    labels = np.load(real_run / "labels.npy")
    stacked = build_ensemble([real_run, other], stack=True)
    assert stacked.stack.folds == 2 and stacked.oof.shape == (len(labels), 10)
    folds = [np.load(real_run / f"fold-{fold}" / "val_rows.npy") for fold in (1, 2)]
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(labels)))
    selected = build_ensemble([real_run, other], select=True, metric="accuracy")
    assert selected.scores["selected, in-sample"][0] >= max(
        np.mean(oof.argmax(axis=1) == labels) for oof in (np.load(real_run / "oof.npy"), noisy)
    )


@pytest.mark.slow
def test_kit_predict_prints_members_beside_the_ensemble(real_run, tmp_path):
    other = tmp_path / "tiny-copy"
    shutil.copytree(real_run, other)
    save_array(other / "oof.npy", np.roll(np.load(real_run / "oof.npy"), 1, axis=1))
    rerecord(other)
    command = [sys.executable, "-m", "kit", "predict", str(real_run), str(other), "--out", str(tmp_path / "subs")]
    done = subprocess.run(
        [*command, "--weights", "2,1"], capture_output=True, text=True, env={**_env(), "COLUMNS": "150"}
    )
    assert done.returncode == 0, done.stderr
    assert "tiny-copy" in done.stdout and "ensemble" in done.stdout and "given" in done.stdout
    assert "wrote" in done.stdout and (tmp_path / "subs" / "tiny+tiny-copy-w1-0.5.csv").is_file()
    refused = subprocess.run([*command, "--weights", "2,1"], capture_output=True, text=True, env=_env())
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("error: ") and "exists; rerun with --force or --name ..." in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    wide = {**_env(), "COLUMNS": "400"}
    tta = subprocess.run([*command, "--tta", "1", "--precision", "int8"], capture_output=True, text=True, env=wide)
    assert tta.returncode == 0, tta.stderr
    assert "TTA computed by tflite int8" in tta.stdout
    assert (tmp_path / "subs" / "tiny+tiny-copy-tta1-int8.csv").is_file()
    sidecar = json.loads((tmp_path / "subs" / "tiny+tiny-copy-tta1-int8.json").read_text())
    assert sidecar["tta_precision"] == "int8" and [run["tta_engine"] for run in sidecar["runs"]] == ["tflite int8"] * 2
    for extra, message in (
        (["--precision", "int8"], "--precision: only test-time augmentation runs models; add --tta N, or leave it out"),
        (["--tta", "1", "--precision", "fp8"], "--precision: must be one of float32, int8, got 'fp8'"),
    ):
        bad = subprocess.run([*command, *extra], capture_output=True, text=True, env=_env())
        assert bad.returncode == 1 and bad.stderr.strip() == f"error: {message}", bad.stderr


def _env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
