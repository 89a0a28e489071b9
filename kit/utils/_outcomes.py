"""What :class:`kit.utils._tracking.MlflowTracker` logs to a finished run's parent: a CVResult's or a TuneResult's
scores, tags and files, as ``(metrics, tags, files, params)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Outcome = tuple[dict[str, Any], dict[str, Any], list[Path], dict[str, Any]]


def outcome_of(result: Any) -> Outcome:
    """A TuneResult's outcome (it has trials), else a CVResult's."""
    return tune_outcome(result) if hasattr(result, "trials") else cv_outcome(result)


def cv_outcome(result: Any) -> Outcome:
    """A CVResult's OOF scores (``oof_score`` in its metric, also as ``oof_<metric>``), tags, summary and report."""
    names = ("oof_score", "oof_accuracy", "oof_loss", "fold_accuracy_mean", "fold_accuracy_std", "train_seconds")
    metrics = {name: getattr(result, name, None) for name in (*names, "holdout_accuracy")}
    if result.metric != "accuracy":
        metrics[f"oof_{result.metric}"] = result.oof_score
    tags = {"competition": result.competition, "metric": result.metric, "run_folder": Path(result.path).resolve()}
    root = Path(result.path)
    files = [result.run.summary_path, *sorted(root.glob("*.png")), root / "report.html"]
    return metrics, tags, [path for path in files if path.is_file()], {}


def tune_outcome(result: Any) -> Outcome:
    """A TuneResult's best score and trial counts, the best trial and its values as tags, the tuned recipe file."""
    best = result.best
    metrics = {"best_score": best and best.score, "trials": len(result.trials), "resumed_trials": result.resumed}
    tags = {"tuner": result.tuner, "role": result.role, "project_folder": Path(result.folder).resolve()}
    if best is not None:
        tags |= {
            "best_trial": best.number,
            "best_trial_id": best.trial_id,
            **{f"best.{key}": value for key, value in best.values.items()},
        }
    tuned = result.tuned_path
    return metrics, tags, [tuned] if tuned is not None and Path(tuned).is_file() else [], {}
