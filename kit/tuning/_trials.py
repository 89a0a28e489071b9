"""One tune trial as kit reports it (:class:`TrialScore`), to callbacks while it runs and in a search's result."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kit.utils._display import trial_number

OBJECTIVE = "val_accuracy"
COMPLETED = "COMPLETED"  # KerasTuner's TrialStatus values are these strings
FAILED = "FAILED"


@dataclass(frozen=True)
class TrialScore:
    """A trial: its values by dotted recipe key, its score (best-epoch hold-out accuracy; None until it completes),
    the epochs it trains (at ``on_trial_begin``) or trained, its KerasTuner status (``RUNNING``, ``COMPLETED``,
    ``FAILED``, …), and, once ended, its loss, best epoch, seconds and the tuner that ran it."""

    trial_id: str
    values: dict[str, Any]
    score: float | None
    epochs: int | None
    status: str
    val_loss: float | None = None
    best_epoch: int | None = None
    seconds: float | None = None
    tuner_id: str | None = None

    @property
    def number(self) -> str:
        """The trial as shown, 1-based as folds are (KerasTuner's ``trial_id`` ``"00"`` is trial ``1``)."""
        return trial_number(self.trial_id)

    @property
    def completed(self) -> bool:
        return self.status == COMPLETED and self.score is not None


def brief(value: Any) -> str:
    """A value for tables and logs: floats to 4 significant digits, booleans as TOML writes them, strings unquoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def ranked(trials: Iterable[TrialScore]) -> tuple[TrialScore, ...]:
    """Scored trials best first, then the others in trial order."""
    trials = list(trials)
    done = sorted((trial for trial in trials if trial.score is not None), key=lambda trial: -trial.score)
    rest = sorted(
        (trial for trial in trials if trial.score is None), key=lambda trial: (len(trial.trial_id), trial.trial_id)
    )
    return (*done, *rest)
