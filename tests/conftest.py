"""Shared fixtures: small real competition folders built from the embedded demo digits."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kit.competitions import get_competition
from kit.data import write_demo_data


def tiny_recipe_toml(
    description: str,
    epochs: int = 1,
    batch_size: int = 32,
    seed: int = 3,
    dropout: float = 0.0,
    augment: str = "rotation = 10.0",
    extra: str = "",
) -> str:
    """The TOML of a tiny CNN (one 4-filter block, dense 8) on 2 folds that trains in seconds; ``extra`` adds tables."""
    return f"""description = "{description}"
[[model.blocks]]
filters = 4
dropout = {dropout}
[model]
dense = [{{ units = 8 }}]
[train]
epochs = {epochs}
batch_size = {batch_size}
learning_rate = 0.01
[cv]
folds = 2
seed = {seed}
[augment]
{augment}
{extra}"""


@pytest.fixture(scope="session")
def competition():
    return get_competition("digit-recognizer")


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory, competition) -> Path:
    """The full embedded demo data (1,500 train / 297 test real digits)."""
    return write_demo_data(tmp_path_factory.mktemp("demo"), competition)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, demo_dir, competition) -> Path:
    """A competition folder with the first 200 train and 40 test rows of the demo data."""
    folder = tmp_path_factory.mktemp("tiny")
    pd.read_csv(demo_dir / "train.csv", nrows=200).to_csv(folder / "train.csv", index=False)
    pd.read_csv(demo_dir / "test.csv", nrows=40).to_csv(folder / "test.csv", index=False)
    for name in ("sample_submission.csv", "solution.csv"):
        pd.read_csv(demo_dir / name, nrows=40).to_csv(folder / name, index=False)
    return folder


def minimal_summary(folds: tuple[int, ...] = (1, 2), **changes) -> dict:
    """The content of a valid summary.json (every key its schema requires) for a run of ``folds``; ``changes``
    replace keys."""
    content = {
        "recipe": "tiny",
        "recipe_hash": "abc123",
        "train_fingerprint": "train",
        "test_fingerprint": None,
        "folds_total": len(folds),
        "seed": 0,
        "competition": "digit-recognizer",
        "data_dir": "data",
        "data": {"train_rows": 60, "test_rows": 0, "image_shape": [28, 28, 1], "classes": 3},
        "folds": [{"fold": k, "epochs": 1, "val_accuracy": 0.5, "val_loss": 1.0, "seconds": 1.0} for k in folds],
        "oof_accuracy": 0.5,
        "oof_loss": 1.0,
        "fold_accuracy_mean": 0.5,
        "fold_accuracy_std": 0.0,
        "train_seconds": 1.0,
        "finished_at": "2026-12-04T00:00:00+00:00",
        "recipe_content": {},
    }
    return {**content, **changes}


def rerecord(folder) -> None:
    """Record a run folder's files as they are now in its summary's checksums, as if kit had written them: for tests
    that make a second run out of a copy, or that test what a reader checks beyond the checksums."""
    from kit.crossval import RunFolder
    from kit.crossval._summary import file_checksums

    run = RunFolder(Path(folder))
    run.write_summary(run.summary().model_copy(update={"checksums": file_checksums(run)}))
