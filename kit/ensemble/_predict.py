"""Write an ensemble's submission: its name, the checked CSV, the voted test softmax beside it (``NAME.npy``, which
pseudo-labelling reads) and the ``NAME.json`` sidecar with provenance and OOF scores."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from kit.competitions import as_competition, get_metric
from kit.crossval import Summary, resolve_run
from kit.ensemble._combine import Ensemble, build_ensemble
from kit.errors import KitError
from kit.submission import class_counts, expected_ids, refuse_overwrite, spec_ids, write_predictions
from kit.utils import Callback, renamed, save_array, tracking_uri, write_json
from kit.utils._display import card, facts, number, short_repr, table

SUBMISSIONS_DIR = Path("submissions")
MAX_NAME = 100


@dataclass(frozen=True)
class Prediction:
    """A written submission: the ensemble, the CSV path and the sidecar written beside it."""

    ensemble: Ensemble
    path: Path
    sidecar: dict[str, Any]

    def _honest(self) -> tuple[str, float | None]:
        """The method whose OOF score is honest for the written submission (the cross-fitted one of fitted weights or
        selection, the chosen method otherwise) and that score in the competition's metric."""
        scores, chosen = self.ensemble.metric_scores, self.ensemble.weighting
        if "in-sample" in chosen:
            prefix = chosen.split(",")[0]
            chosen = next((key for key in scores if key.startswith(prefix) and "in-sample" not in key), chosen)
        return chosen, scores.get(chosen)

    def __repr__(self) -> str:
        ensemble, (_, score) = self.ensemble, self._honest()
        fields = {"path": self.path, "weighting": ensemble.weighting, "members": len(ensemble.members)}
        fields |= {"metric": ensemble.metric, "honest_oof_score": score, "oof_accuracy": ensemble.oof_accuracy}
        return short_repr("Prediction", fields)

    def _repr_html_(self) -> str:
        ensemble, metric = self.ensemble, self.ensemble.metric
        members = [
            (
                row.get("recipe", ""),
                row.get("run", ""),
                "—" if row.get("weight") is None else f"{row['weight']:.3f}",
                number(row.get("oof_metric")),
                number(row.get("oof_accuracy")),
                number(row.get("test_agreement"), 3),
            )
            for row in self.sidecar.get("runs", [])
        ]
        honest, _ = self._honest()
        methods = [
            (
                key + (" ← written" if key == ensemble.weighting else " ← its honest score" if key == honest else ""),
                number(ensemble.metric_scores.get(key)),
                number(accuracy),
                number(loss),
            )
            for key, (accuracy, loss) in ensemble.scores.items()
        ]
        about = facts(
            [
                ("method", ensemble.weighting + (f", TTA ×{ensemble.tta}" if ensemble.tta else "")),
                ("rows", number(self.sidecar.get("rows"))),
                ("competition", self.sidecar.get("competition")),
                ("checked against", self.sidecar.get("checked_against")),
            ]
        )
        member_table = table(("recipe", "run", "weight", f"OOF {metric}", "OOF accuracy", "test agreement"), members)
        method_table = table(("OOF scores", metric, "accuracy", "log loss"), methods)
        return card(f"Prediction · {self.path}", about, member_table, method_table)


def default_name(
    references: Sequence[str | Path],
    tta: int = 0,
    auto_weights: bool = False,
    select: bool = False,
    stack: bool = False,
    tta_precision: str = "float32",
    weights: Sequence[float] | None = None,
    metric: str | None = None,
    thresholds: bool = False,
) -> str:
    """The runs' folder names joined by ``+`` (shortened for many runs), with a suffix for each option that changes
    the submission: ``-tta<N>`` (``-tta<N>-int8``), ``-w<W1>-<W2>…`` (given weights, the largest 1), ``-auto``,
    ``-select``, ``-stack``, ``-<metric>`` (the metric optimised by ``-auto`` or ``-select``, where one is given) and
    ``-thresholds``; so two calls that write different submissions never get the same default name."""
    names = [resolve_run(reference).root.name for reference in references]
    name = "+".join(names)
    if len(name) > MAX_NAME:
        name = f"{names[0]}+{len(names) - 1}-more"
    suffixes = (
        f"-tta{tta}" + ("-int8" if tta_precision == "int8" else "") if tta else "",
        "" if weights is None else "-w" + "-".join(f"{weight / max(weights):.3g}" for weight in weights),  # 2,1: 1-0.5
        "-auto" if auto_weights else "",
        "-select" if select else "",
        "-stack" if stack else "",
        f"-{metric}" if metric is not None and (auto_weights or select) else "",
        "-thresholds" if thresholds else "",
    )
    return name + "".join(suffixes)


def submission_path(name: str, out_dir: Path | str) -> Path:
    """``out_dir/<name>.csv``; a name is a file name, not a path."""
    name = name.removesuffix(".csv")
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise KitError.invalid("name", "a plain file name (no folders, not starting with a dot), e.g. demo-vote", name)
    return Path(out_dir) / f"{name}.csv"


def write_softmax_submission(
    path: Path,
    test: np.ndarray,
    test_ids: np.ndarray,
    summary: Summary,
    data_dir: Path | str | None,
    sidecar: dict[str, Any],
    force: bool = False,
    labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """Write the submission of ``test`` (softmax rows; a multi-label task's sigmoid rows) in the competition's kind
    (:func:`kit.submission.write_predictions`: labels, the probability of class 1, per-class probabilities or the top
    k) as a checked submission at ``path``, the probabilities as ``path.npy`` and the sidecar (completed with the
    common provenance keys) as ``path.json``; return the sidecar written. ``labels`` (a label submission: class
    indices, e.g. an ordinal task's grades from fitted thresholds; a multi-label 0/1 matrix) replace the argmax.

    ``summary`` is a member run's summary (competition, data folder, test fingerprint).
    """
    folder = summary.data_folder(data_dir).resolve()  # absolute: kit score and kit submit find it from anywhere
    competition = as_competition(summary.competition, folder)
    expected = expected_ids(folder, competition)
    if expected is not None:
        checked = f"{folder / competition.sample_submission_file}"
    elif spec_ids(competition, len(test_ids)) is not None:
        checked = f"{competition.name} format (ids {competition.first_id}…{competition.first_id + len(test_ids) - 1})"
    else:
        checked = f"{competition.name} format (no {competition.sample_submission_file} in {folder})"
    softmax = path.with_suffix(".npy")
    full = {
        "submission": path.name,
        "competition": competition.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": len(test),
        "checked_against": checked,
        "data_dir": str(folder),
        "test_softmax": softmax.name,
        "test_fingerprint": summary.test_fingerprint,
        **sidecar,
    }
    # checked first: no .npy for a bad CSV
    write_predictions(test_ids, test, path, competition, None, force, expected, labels)
    full["predicted_class_counts"] = class_counts(test, competition, labels)
    save_array(softmax, np.asarray(test, dtype=np.float32))
    write_json(path.with_suffix(".json"), full)  # last: the sidecar points to the files before it
    return full


@renamed(out_dir="out", data_dir="data")
def predict(
    references: Sequence[str | Path],
    name: str | None = None,
    out: Path | str = SUBMISSIONS_DIR,
    weights: Sequence[float] | None = None,
    auto_weights: bool = False,
    tta: int = 0,
    data: Path | str | None = None,
    force: bool = False,
    callbacks: Iterable[Callback] = (),
    select: bool = False,
    stack: bool = False,
    metric: str | None = None,
    tta_precision: str = "float32",
    thresholds: bool = False,
    track: bool | str | None = None,
) -> Prediction:
    """Combine the runs (see :func:`kit.ensemble._combine.build_ensemble`); write ``out/<name>.csv``, checked
    against the competition, with ``<name>.npy`` (the combined test softmax) and ``<name>.json`` (provenance and
    scores, each method's in the competition's metric too). ``thresholds`` (an ordinal task scored by QWK): grades
    from cut points on the expected grade fitted on the OOF rows (:func:`kit.competitions.fit_qwk_thresholds`),
    their honest score cross-fitted, instead of the most probable grade. ``track`` logs the ensemble to MLflow as
    :func:`kit.cv`'s ``track`` does (:mod:`kit.ensemble._tracked`); tracking never fails the prediction."""
    options = {"tta": tta, "auto_weights": auto_weights, "select": select, "stack": stack, "weights": weights}
    options |= {"tta_precision": tta_precision, "metric": metric, "thresholds": thresholds}
    path = submission_path(name or default_name(references, **options), out)
    refuse_overwrite(path, force)  # before any long work
    if metric is not None:
        get_metric(metric)
    if track is not False and tracking_uri(track) is not None:  # the same call, logged by a tracker
        from kit.ensemble._tracked import tracked_prediction

        call = partial(predict, references, path.stem, out, data=data, force=force, track=False, **options)
        return tracked_prediction(track, path.stem, call, callbacks)
    ensemble = build_ensemble(
        references,
        weights,
        auto_weights,
        tta,
        data,
        callbacks,
        select=select,
        stack=stack,
        metric=metric,
        tta_precision=tta_precision,
    )
    sidecar: dict[str, Any] = {
        "weighting": ensemble.weighting,
        "weights": None if ensemble.stack else [float(weight) for weight in ensemble.weights],
        "tta": tta,
        "tta_precision": tta_precision if tta else None,
        "oof_accuracy": ensemble.oof_accuracy,
        "oof_loss": ensemble.oof_loss,
        "oof_scores": {key: {"accuracy": accuracy, "loss": loss} for key, (accuracy, loss) in ensemble.scores.items()},
        "metric": ensemble.metric,
        "oof_metric_scores": dict(ensemble.metric_scores),
    }
    grades = None
    if thresholds:
        grades, sidecar["qwk_thresholds"] = qwk_grades(ensemble)
    if ensemble.selection:
        selection = ensemble.selection
        sidecar["selection"] = {
            "metric": selection.metric,
            "rounds": selection.rounds,
            "counts": list(selection.counts),
            "half_counts": [list(half) for half in selection.half_counts],
        }
    if ensemble.stack:
        sidecar["stack"] = {
            "meta_model": "multinomial logistic regression on log-softmaxes",
            "folds": ensemble.stack.folds,
            "c": ensemble.stack.c,
            "fold_cs": list(ensemble.stack.fold_cs),
        }
    sidecar["runs"] = ensemble.member_scores()
    written = write_softmax_submission(
        path, ensemble.test, ensemble.test_ids, ensemble.members[0].summary, data, sidecar, force, grades
    )
    return Prediction(ensemble, path, written)


def qwk_grades(ensemble: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """The test grades from QWK cut points fitted on the ensemble's OOF rows, and what to record of them: the cut
    points, the OOF QWK of the most probable grade, and the honest (cross-fitted) QWK of the cut points."""
    from kit.competitions import crossfit_qwk_thresholds, grades_from_thresholds

    if ensemble.metric != "qwk" or ensemble.labels.ndim != 1:
        raise KitError(
            f"cut points on the expected grade are for an ordinal task scored by qwk; this one is scored by "
            f"{ensemble.metric}",
            argument="thresholds",
        )
    honest, cuts = crossfit_qwk_thresholds(ensemble.labels, ensemble.oof)
    record = {
        "cuts": [float(cut) for cut in cuts],
        "oof_qwk_argmax": get_metric("qwk").score(ensemble.labels, ensemble.oof),
        "oof_qwk_cross_fitted": float(honest),
    }
    return grades_from_thresholds(ensemble.test, cuts), record
