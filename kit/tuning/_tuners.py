"""KerasTuner's tuners with kit's reporting: each trial's begin, epochs and end reach the caller's callbacks as
:class:`kit.tuning._trials.TrialScore`, each trial folder records which tuner ran it, and a chief (which runs no trial
itself) reports the trials its workers end."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras_tuner as kt
import numpy as np

from kit.tuning._hypermodel import RecipeHyperModel
from kit.tuning._trials import OBJECTIVE, TrialScore
from kit.utils import CallbackList, read_json, write_json

TRIAL_RECORD = "kit_trial.json"  # in each trial folder: which tuner ran the trial
DEFAULT_TUNER_ID = "tuner0"  # KerasTuner's id of a tuner outside a distributed search


def trial_score(trial: kt.engine.trial.Trial, keys: list[str], folder: Path) -> TrialScore:
    """A KerasTuner trial as a :class:`TrialScore`, with the tuner id from its kit record when there is one."""

    def metric(name: str) -> float | None:
        return float(trial.metrics.get_best_value(name)) if trial.metrics.exists(name) else None

    completed = trial.status == kt.engine.trial.TrialStatus.COMPLETED
    record_path = folder / f"trial_{trial.trial_id}" / TRIAL_RECORD
    values = trial.hyperparameters.values
    epochs = metric("epochs")
    return TrialScore(
        trial_id=trial.trial_id,
        values={key: _plain(values[key]) for key in keys if key in values},
        score=float(trial.score) if completed and trial.score is not None else None,
        epochs=None if epochs is None else int(epochs),
        status=trial.status,
        val_loss=metric("val_loss") if completed else None,
        best_epoch=values.get("tuner/initial_epoch", 0) + trial.best_step + 1
        if completed
        else None,  # hyperband resumes
        seconds=metric("seconds"),
        tuner_id=read_json(record_path).get("tuner_id") if record_path.is_file() else None,
    )


def _plain(value: Any) -> Any:
    """A NumPy scalar from an oracle as the Python value TOML and JSON write."""
    return value.item() if isinstance(value, np.generic) else value


class _ReportingTuner:
    """Tuner hooks: report trials and epochs to the callbacks, leave a record of who ran each trial."""

    def __init__(self, *args: Any, callbacks: CallbackList | None = None, **kwargs: Any) -> None:
        self.kit_callbacks = callbacks or CallbackList()
        self.scores: list[TrialScore] = []  # the trials this process ran, in order
        super().__init__(*args, **kwargs)

    @property
    def keys(self) -> list[str]:
        return self.hypermodel.space.keys

    def on_trial_begin(self, trial: kt.engine.trial.Trial) -> None:
        super().on_trial_begin(trial)
        values = trial.hyperparameters.values
        epochs = values.get("tuner/epochs", self.hypermodel.recipe.train.epochs)
        values = {key: _plain(values[key]) for key in self.keys if key in values}
        self.kit_callbacks.on_trial_begin(TrialScore(trial.trial_id, values, None, epochs, trial.status))

    def on_epoch_end(self, trial: kt.engine.trial.Trial, model: Any, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(trial, model, epoch, logs=logs)
        self.kit_callbacks.on_epoch_end(trial.trial_id, epoch + 1, dict(logs or {}))

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        super().on_trial_end(trial)  # reports the trial to the (maybe remote) oracle
        folder = Path(self.project_dir)
        write_json(
            folder / f"trial_{trial.trial_id}" / TRIAL_RECORD, {"tuner_id": self.tuner_id, "status": trial.status}
        )
        score = trial_score(self.oracle.get_trial(trial.trial_id), self.keys, folder)
        self.scores.append(score)
        self.kit_callbacks.on_trial_end(score)


class BayesianTuner(_ReportingTuner, kt.BayesianOptimization):
    """KerasTuner's Bayesian optimisation (a Gaussian process over the space) with kit's reporting and records."""


class HyperbandTuner(_ReportingTuner, kt.Hyperband):
    """KerasTuner's Hyperband (successive halving of epochs over brackets) with kit's reporting and records."""


class RandomTuner(_ReportingTuner, kt.RandomSearch):
    """KerasTuner's random search with kit's reporting and records."""


TUNER_CLASSES = {"bayesian": BayesianTuner, "hyperband": HyperbandTuner, "random": RandomTuner}


def make_tuner(
    kind: str, hypermodel: RecipeHyperModel, max_trials: int, folder: Path, overwrite: bool, callbacks: CallbackList
) -> _ReportingTuner:
    """The KerasTuner tuner of ``kind`` on ``folder`` (reloaded when it holds a search), maximising the score."""
    budget = {"max_epochs": hypermodel.recipe.train.epochs} if kind == "hyperband" else {"max_trials": max_trials}
    with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner prints "Reloading Tuner from …"; the result says it
        search = TUNER_CLASSES[kind](
            hypermodel=hypermodel,
            objective=kt.Objective(OBJECTIVE, direction="max"),
            seed=hypermodel.recipe.cv.seed + 1,  # KerasTuner draws a random seed for 0
            directory=str(folder.parent),
            project_name=folder.name,
            overwrite=overwrite,
            callbacks=callbacks,
            **budget,
        )
    if kind == "hyperband":
        search.oracle.max_trials = max_trials  # Hyperband's own budget is its brackets; this caps them
    return search


@contextlib.contextmanager
def watch_chief(oracle: kt.Oracle, keys: list[str], folder: Path, callbacks: CallbackList | None) -> Iterator[None]:
    """On the chief, which runs no trial itself, report each trial the workers end (polling the oracle each second);
    without callbacks, do nothing."""
    if not callbacks:
        yield
        return
    stop = threading.Event()
    reported = len(oracle.end_order)

    def watch() -> None:
        nonlocal reported
        while not stop.wait(1.0):
            ended = list(oracle.end_order)
            for trial_id in ended[reported:]:
                callbacks.on_trial_end(trial_score(oracle.trials[trial_id], keys, folder))
            reported = len(ended)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
