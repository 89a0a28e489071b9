"""``kit predict --track``: an ensemble logged to MLflow as one run (:func:`kit.utils.run_tracked`) — its members
(run folders, recipes, weights) and method as params, its honest OOF score and, where the answers are known, its
local score in the competition's metric as metrics, the submission CSV and its sidecar as artifacts. As for every
tracked run, tracking never blocks or fails the prediction: a store that does not answer is one warning."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def prediction_outcome(prediction: Any) -> tuple[dict[str, Any], dict[str, Any], list[Path], dict[str, Any]]:
    """What the parent run of a :class:`kit.ensemble._predict.Prediction` gets: (metrics, tags, files, params)."""
    ensemble, sidecar = prediction.ensemble, prediction.sidecar
    honest_method, honest = prediction._honest()
    metric = ensemble.metric
    metrics: dict[str, Any] = {
        "honest_oof_score": honest,
        f"honest_oof_{metric}": honest,
        "oof_accuracy": ensemble.oof_accuracy,
        "oof_loss": ensemble.oof_loss,
        "members": len(ensemble.members),
    }
    local = local_score(prediction)
    if local is not None:
        metrics |= {"local_score": local.score, f"local_{local.metric}": local.score, "local_rows": local.rows}
    params: dict[str, Any] = {"method": ensemble.weighting, "tta": ensemble.tta, "metric": metric}
    for index, row in enumerate(sidecar.get("runs", [])):
        params[f"member.{index}.run"] = str(Path(row.get("run", "")).resolve())
        params[f"member.{index}.recipe"] = row.get("recipe", "")
        params[f"member.{index}.weight"] = row.get("weight")
    tags = {
        "competition": sidecar.get("competition"),
        "metric": metric,
        "honest_method": honest_method,
        "submission": Path(prediction.path).resolve(),
    }
    files = [Path(prediction.path), Path(prediction.path).with_suffix(".json")]
    return metrics, tags, [path for path in files if path.is_file()], params


def local_score(prediction: Any) -> Any:
    """The submission scored on the answers of its data folder (a :class:`kit.submission._scoring.ScoreResult`), or None
    where none are known."""
    from kit.submission import has_answers, score_submission

    folder = Path(prediction.sidecar["data_dir"])
    return score_submission(prediction.path, data=folder) if has_answers(folder) else None


def tracked_prediction(track: bool | str | None, name: str, call: Callable[..., Any], callbacks: Any) -> Any:
    """``call(callbacks=…)`` (a prediction), logged to MLflow as ``track`` says (see :func:`kit.utils.tracking_uri`)
    as a run named ``name``."""
    from kit.utils import run_tracked

    def predict(listeners: Any) -> Any:
        return call(callbacks=listeners)

    return run_tracked(track, predict, callbacks, outcome=prediction_outcome, name=name, command="predict")
