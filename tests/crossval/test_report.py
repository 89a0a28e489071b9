"""`kit report` figures and HTML on a run folder built from the tiny data (no training); `kit runs` listing; the
confusion matrix's normalisation and masked diagonal, the learning rate of a schedule the history does not record, the
per-class table against scikit-learn, and the page's overrides, metric and escaping."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from conftest import minimal_summary
from kit.crossval import (
    FoldResult,
    RunFolder,
    Summary,
    confident_errors,
    confident_errors_figure,
    list_runs,
    png_bytes,
    write_report,
)
from kit.crossval._figures import confusion_figure, confusion_rates, curves_figure
from kit.crossval._report import ClassRow, class_table, report_html, run_figures, schedule_rates
from kit.data import load_train
from kit.errors import KitError
from kit.utils import save_array, write_json

FIGURES = {"label_counts", "samples", "curves", "confusion", "confident_errors"}
PNG = b"\x89PNG\r\n\x1a\n"


def fake_run(
    folder,
    data_dir,
    competition,
    accuracy=0.9,
    recipe="fake",
    finished_at="2025-01-02T03:04:05+00:00",
    recorded_rates=True,
    **summary,
):
    """A finished 2-fold run over the tiny data with made-up softmaxes (about ``accuracy`` right) and histories (with
    the learning rate unless not ``recorded_rates``); ``summary`` replaces keys of its summary."""
    train = load_train(data_dir, competition)
    rng = np.random.default_rng(0)
    rows = len(train)
    predicted = np.where(rng.random(rows) < accuracy, train.labels, (train.labels + 1) % competition.classes)
    oof = rng.dirichlet(np.ones(competition.classes), rows).astype(np.float32) * 0.3
    oof[np.arange(rows), predicted] += 0.7
    run = RunFolder(folder)
    halves = np.array_split(np.arange(rows), 2)
    for fold, val_rows in enumerate(halves, start=1):
        epochs = 3
        history = {
            "accuracy": list(np.linspace(0.5, 0.9, epochs)),
            "val_accuracy": list(np.linspace(0.6, 0.85, epochs)),
            "loss": list(np.linspace(1.5, 0.3, epochs)),
            "val_loss": list(np.linspace(1.2, 0.4, epochs)),
        }
        if recorded_rates:
            history["learning_rate"] = [0.01, 0.01, 0.003]
        record = {
            "fold": fold,
            "epochs": epochs,
            "val_accuracy": 0.8,
            "val_loss": 0.4,
            "seconds": 1.0,
            "folds_total": 2,
            # the run's identity, as kit cv records it in every fold
            "recipe_hash": "abc123",
            "train_fingerprint": train.fingerprint(),
            "test_fingerprint": None,
            "seed": 0,
        }
        run.save_fold(FoldResult(fold, val_rows, oof[val_rows], None, history, record))
    save_array(run.oof_path, oof)
    save_array(folder / "labels.npy", train.labels)
    oof_accuracy = float(np.mean(oof.argmax(axis=1) == train.labels))
    write_json(
        run.summary_path,
        {
            "recipe": recipe,
            "recipe_hash": "abc123",
            "train_fingerprint": train.fingerprint(),
            "test_fingerprint": None,
            "folds_total": 2,
            "seed": 0,
            "competition": competition.name,
            "data_dir": str(data_dir),
            "data": {"train_rows": rows, "test_rows": 0, "image_shape": [28, 28, 1], "classes": competition.classes},
            "folds": [{"fold": k, "epochs": 3, "val_accuracy": 0.8, "val_loss": 0.4, "seconds": 1.0} for k in (1, 2)],
            "oof_accuracy": oof_accuracy,
            "oof_loss": 0.5,
            "fold_accuracy_mean": 0.8,
            "fold_accuracy_std": 0.01,
            "train_seconds": 75.0,
            "finished_at": finished_at,
            "recipe_content": {"train": {"epochs": 3}},
            **summary,
        },
    )
    return folder


@pytest.mark.slow
def test_report_writes_every_figure_and_one_self_contained_page(tmp_path, tiny_dir, competition):
    folder = fake_run(tmp_path / "run", tiny_dir, competition)
    report = write_report(folder)
    assert set(report.images) == FIGURES
    for name, path in report.images.items():
        assert path == folder / f"{name}.png"
        data = path.read_bytes()
        assert data.startswith(PNG) and len(data) > 5_000, name
    page = report.html.read_text()
    assert report.html == folder / "report.html"
    embedded = re.findall(r'src="([^"]*)"', page)
    assert len(embedded) == len(FIGURES) and all(src.startswith("data:image/png;base64,") for src in embedded)
    assert "href=" not in page and "<script" not in page
    assert "OOF accuracy" in page and "abc123" in page


@pytest.mark.slow
def test_report_reads_images_only_from_the_runs_data(tmp_path, tiny_dir, demo_dir, competition):
    folder = fake_run(tmp_path / "run", tiny_dir, competition)
    with pytest.raises(KitError, match=r"train.csv: not the train rows of run .*run \(fingerprint"):
        write_report(folder, data_dir=demo_dir)
    with pytest.raises(KitError, match=r"nowhere/train.csv: not found; pass the folder run"):
        write_report(folder, data_dir=tmp_path / "nowhere")
    assert not (folder / "report.html").exists()


def test_confident_errors_are_the_wrong_rows_most_confident_first():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.05, 0.95], [0.7, 0.3]])
    labels = np.array([0, 0, 0, 0, 1])
    assert confident_errors(proba, labels).tolist() == [3, 1, 4, 2]
    assert confident_errors(proba, labels, count=2).tolist() == [3, 1]
    images = np.zeros((5, 28, 28, 1), dtype=np.uint8)
    assert png_bytes(confident_errors_figure(images, labels, proba)).startswith(PNG)
    assert png_bytes(confident_errors_figure(images, proba.argmax(axis=1), proba)).startswith(PNG)  # no mistakes


def test_list_runs_best_first_with_unfinished_and_broken_ones(tmp_path, tiny_dir, competition):
    fake_run(tmp_path / "runs" / "weak", tiny_dir, competition, accuracy=0.6)
    fake_run(tmp_path / "runs" / "group" / "strong", tiny_dir, competition, accuracy=0.95, recipe="big")
    started = tmp_path / "runs" / "started"
    write_json(started / "fold-1" / "fold.json", {"fold": 1, "folds_total": 5})
    write_json(tmp_path / "runs" / "broken" / "summary.json", {"recipe": "x"})
    runs = list_runs(tmp_path / "runs")
    assert [run.path.name for run in runs] == ["strong", "weak", "broken", "started"]
    strong = runs[0]
    assert (strong.result.recipe_name, len(strong.result.folds), strong.result.train_seconds) == ("big", 2, 75.0)
    assert strong.result.oof_accuracy > runs[1].result.oof_accuracy
    assert runs[2].status.startswith("unreadable: ") and "summary.json: damaged" in runs[2].status
    assert runs[3].result is None and runs[3].status == "unfinished: 1/5 folds"
    with pytest.raises(KitError, match=r"no such folder"):
        list_runs(tmp_path / "missing")


@pytest.mark.slow
def test_cli_runs_and_report(tmp_path, tiny_dir, competition):
    fake_run(tmp_path / "runs" / "only", tiny_dir, competition)
    env = {**os.environ, "COLUMNS": "150"}
    listed = subprocess.run(
        [sys.executable, "-m", "kit", "runs", str(tmp_path / "runs")], capture_output=True, text=True, env=env
    )
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"only\s+fake\s+3\s+abc123\s+0\.\d{4}\s+0\.500\s+1m 15s", listed.stdout), listed.stdout
    made = subprocess.run(
        [sys.executable, "-m", "kit", "report", str(tmp_path / "runs" / "only")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.count("wrote ") == len(FIGURES) + 1 and (tmp_path / "runs" / "only" / "report.html").is_file()
    failed = subprocess.run(
        [sys.executable, "-m", "kit", "report", str(tmp_path / "none")], capture_output=True, text=True, env=env
    )
    assert (
        failed.returncode == 1
        and failed.stderr.startswith("error: run ")
        and len(failed.stderr.strip().splitlines()) == 1
    )


def test_confusion_matrix_is_row_normalised_with_its_diagonal_masked():
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2])
    predicted = np.array([0, 0, 0, 1, 1, 1, 2, 2, 0, 0, 2, 1])
    counts, rates = confusion_rates(labels, predicted, 4)  # class 3 has no images: its row stays 0
    assert counts.tolist() == [[3, 1, 0, 0], [0, 2, 0, 0], [2, 1, 3, 0], [0, 0, 0, 0]]
    assert np.allclose(rates.sum(axis=1), [1, 1, 1, 0]) and rates[2, 0] == pytest.approx(2 / 6)
    names = ["cat", "dog", "a rather long class name", "empty"]
    figure = confusion_figure(labels, predicted, 4, names)
    axes = figure.axes[0]
    shown = axes.images[0].get_array()
    assert shown.mask.tolist() == np.eye(4, dtype=bool).tolist()  # the diagonal masked, drawn in the "bad" grey
    assert np.allclose(shown.filled(-1), np.where(np.eye(4, dtype=bool), -1, rates))
    assert axes.images[0].norm.vmax == pytest.approx(2 / 6)  # the colour scale spans the mistakes, not the hits
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in axes.texts}
    assert texts == {(r, c): str(counts[r, c]) for r, c in zip(*np.nonzero(counts))}  # counts where not 0
    assert [t.get_text() for t in axes.get_xticklabels()] == names == [t.get_text() for t in axes.get_yticklabels()]
    slanted = axes.get_xticklabels()[2]
    assert (slanted.get_rotation(), slanted.get_horizontalalignment()) == (45, "right")
    assert png_bytes(figure).startswith(PNG)


def test_per_class_table_matches_scikit_learn():
    from sklearn.metrics import classification_report

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 300)
    predicted = np.where(rng.random(300) < 0.7, labels, rng.integers(0, 5, 300))
    predicted[predicted == 4] = 3  # class 4 is never predicted: precision 0, as scikit-learn's zero_division=0
    rows = class_table(labels, predicted, 5, ["a", "b", "c", "d", "e"])
    report = classification_report(labels, predicted, labels=range(5), output_dict=True, zero_division=0)
    for k, row in enumerate(rows):
        expected = report[str(k)]
        assert row.support == expected["support"]
        assert (row.recall, row.precision, row.f1) == pytest.approx(
            (expected["recall"], expected["precision"], expected["f1-score"])
        )
        wrong = [
            (int(p), n) for p, n in zip(*np.unique(predicted[(labels == k) & (predicted != k)], return_counts=True))
        ]
        top = max(wrong, key=lambda item: item[1])
        assert row.confused == ("abcde"[top[0]], top[1]) and row.name == "abcde"[k]
    assert class_table(np.array([0, 1]), np.array([0, 1]), 2)[0].confused is None


@pytest.mark.slow
def test_learning_rate_of_an_exponential_schedule_the_history_lacks(tmp_path, tiny_dir, competition):
    recipe = {"model": {"blocks": [{"filters": 8}]}, "train": {"epochs": 3, "batch_size": 32, "learning_rate": 0.01}}
    recipe["train"]["schedule"] = {"kind": "exponential", "decay": 0.5}
    folder = fake_run(tmp_path / "run", tiny_dir, competition, recorded_rates=False, recipe_content=recipe)
    curves = run_figures(RunFolder(folder))["curves"]
    assert [axes.get_title().split(" (")[0] for axes in curves.axes] == ["accuracy", "loss", "learning rate"]
    panel = curves.axes[2]
    assert "exponential schedule of the recipe" in panel.get_title() and panel.get_yscale() == "linear"
    (line,) = panel.get_lines()  # both folds train on 100 rows: 4 steps an epoch, one curve for all folds
    steps = np.arange(12)
    assert np.allclose(line.get_xdata(), (steps + 1) / 4)
    assert np.allclose(line.get_ydata(), 0.01 * 0.5 ** (steps // 4))
    unreadable = fake_run(tmp_path / "old", tiny_dir, competition, recorded_rates=False)  # recipe no longer parses
    assert len(run_figures(RunFolder(unreadable))["curves"].axes) == 2


def test_curves_show_each_folds_validation_and_the_training_mean_with_focused_axes():
    epochs = np.arange(1, 31)
    histories = {
        fold: {
            "accuracy": list(1 - 0.9 * np.exp(-epochs / 2)),
            "val_accuracy": list(0.99 - 0.9 * np.exp(-epochs / 2) - 0.001 * fold),
            "loss": list(3 * np.exp(-epochs / 2) + 0.02),
            "val_loss": list(3 * np.exp(-epochs / 2) + 0.03),
        }
        for fold in range(1, 6)
    }
    figure = curves_figure(histories)
    accuracy, loss = figure.axes
    assert len(accuracy.get_lines()) == 6 and len(loss.get_lines()) == 6  # 5 folds' validation, 1 training mean
    assert accuracy.get_legend() is None and len(figure.legends) == 1  # the legend sits under the panels
    low, high = accuracy.get_ylim()
    assert 0.8 < low < 0.99 and high <= 1.01 and "first epochs off the axis" in accuracy.get_title()
    assert loss.get_yscale() == "log"
    many = curves_figure({fold: histories[1] for fold in range(1, 13)})
    assert len(many.axes[0].get_lines()) == 2  # 12 folds: their mean (and spread) and the training mean


def test_page_shows_the_metric_overrides_recipe_toml_and_escapes_every_value():
    summary = Summary.model_validate(
        minimal_summary(
            metric="log_loss",
            oof_score=0.1234,
            data_dir="/data/<seedlings>",
            overrides={"train.epochs": 3, "train.optimizer": "<adamw>"},
            recipe_content={"train": {"epochs": 3, "optimizer": "<adamw>", "schedule": {"kind": "constant"}}},
        )
    )
    row = ClassRow("<b>Sugar & beet</b>", 10, 0.5, 0.25, 1 / 3, ("Maize", 4))
    page = report_html(summary, Path("runs/x"), {"curves": PNG}, [row])
    assert "OOF log_loss (the competition&#x27;s metric)</span><b>0.1234" in page
    assert "OOF accuracy</span><b>0.5000" in page and "OOF loss</span><b>1.0000" in page
    assert "<td class=t>train.optimizer</td><td class=t>&quot;&lt;adamw&gt;&quot;</td>" in page
    assert "<td class=t>train.epochs</td><td class=t>3</td>" in page
    (toml,) = re.findall(r"<pre>(.*?)</pre>", page, re.S)  # the recipe as TOML, escaped
    assert "&lt;adamw&gt;" in toml and tomllib.loads(html.unescape(toml)) == summary.recipe_content
    assert "/data/&lt;seedlings&gt;" in page and "<seedlings>" not in page
    assert "&lt;b&gt;Sugar &amp; beet&lt;/b&gt;" in page and "Maize (4, 40%)" in page
    assert "No overrides" in report_html(summary.model_copy(update={"overrides": {}}), Path("x"), {}, None)


@pytest.mark.slow
@pytest.mark.parametrize(
    "train",
    [
        {"schedule": {"kind": "exponential", "decay": 0.8}},
        {"schedule": {"kind": "cosine", "warmup": 0.1}},
        {"schedule": {"kind": "one_cycle"}},
        {"snapshots": {"count": 3, "final_factor": 0.1}},
    ],
)
def test_report_schedules_are_the_rates_training_used(train):
    keras = pytest.importorskip("keras")
    from kit.engine import learning_rate
    from kit.recipes import parse_recipe

    recipe = parse_recipe({"model": {"blocks": [{"filters": 8}]}, "train": {"epochs": 6, **train}}, "x").train
    x, rates = schedule_rates(recipe, 7, 6)
    schedule = learning_rate(recipe, 7)
    expected = [float(keras.ops.convert_to_numpy(schedule(step))) for step in range(42)]
    assert np.allclose(x, np.arange(1, 43) / 7) and np.allclose(rates, expected, rtol=1e-5)
