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


# `make test-fast` (pytest -m "not slow") runs the tests that train no model and start no subprocess. Tests that do
# carry the `slow` mark: whole modules here, single tests in mixed modules below (besides those marked in place).
SLOW_MODULES = {
    "test_cv",
    "test_rundir",
    "test_cluster",
    "test_recipes_zoo",
    "test_layouts",
    "test_faults",
    "test_checkpoint",
    "test_snapshots",
    "test_readme",
    "test_cli",
    "test_distill",
}
SLOW_TESTS = {
    "test_tta_with_no_copies_reproduces_the_fold_predictions",
    "test_kit_predict_prints_members_beside_the_ensemble",
    "test_select_and_stack_on_a_real_run_and_its_folds",
    "test_an_existing_spec_is_kept_unless_forced",
    "test_report_writes_every_figure_and_one_self_contained_page",
    "test_report_reads_images_only_from_the_runs_data",
    "test_cli_runs_and_report",
    "test_a_model_trained_with_ema_saves_and_loads",
    "test_the_schedule_spans_the_training_rows_it_is_given",
    "test_kit_predict_select_prints_the_chosen_runs",
    "test_predict_stack_on_run_folders",
    "test_full_size_times_each_whole_run_in_its_own_child",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module in SLOW_MODULES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
