"""`kit report` figures and HTML on a run folder built from the tiny data (no training); `kit runs` listing."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from kit.crossval import (
    FoldResult,
    RunFolder,
    confident_errors,
    confident_errors_figure,
    list_runs,
    png_bytes,
    write_report,
)
from kit.data import load_train
from kit.errors import KitError
from kit.utils import save_array, write_json

FIGURES = {"label_counts", "samples", "curves", "confusion", "confident_errors"}
PNG = b"\x89PNG\r\n\x1a\n"


def fake_run(folder, data_dir, competition, accuracy=0.9, recipe="fake", finished_at="2025-01-02T03:04:05+00:00"):
    """A finished 2-fold run over the tiny data with made-up softmaxes (about ``accuracy`` right) and histories."""
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
            "learning_rate": [0.01, 0.01, 0.003],
        }
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
