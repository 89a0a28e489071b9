"""A local leaderboard: score a submission against held-out answers with the competition's metric.

The answers are ``solution.csv`` beside the data (the demo data has one) in the submission's own columns, a file
given, or the labels of a test file that carries them (``files.test_labels``). A submission holds what its kind says
(:mod:`kit.submission._answers`): labels (scored by a metric of labels: accuracy, F1, QWK; a ranking metric takes
each row's one label), probabilities (any metric: labels are their argmax, or a multi-label task's labels at 0.5 and
over) or ranked labels (MAP@k; a metric of labels takes each row's first). The score is noted under ``local_score``
in the submission's sidecar JSON, keeping every other key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kit.competitions import METRICS, Competition, as_competition, get_metric
from kit.crossval import RunFolder
from kit.errors import KitError
from kit.submission._answers import Holds, held, read_csv, row_order, truth_of
from kit.submission._cells import id_key
from kit.submission._sidecar import Sidecar, note_sidecar, read_sidecar
from kit.utils import renamed
from kit.utils._display import card, facts, note, number, short_repr, table


@dataclass(frozen=True)
class ClassScore:
    """One class of the answers: its value as in the data, how many test rows have it, the share predicted right."""

    value: Any
    count: int
    accuracy: float


@dataclass(frozen=True)
class ScoreResult:
    """The score of a submission: ``metric`` and its ``score``, per-class accuracy (of a single-label task; empty for
    a multi-label one), rows scored, the accuracy of its labels, the answers used, notes, and what the file ``holds``
    (``labels``, ``probabilities`` or ``ranking``)."""

    metric: str
    score: float
    per_class: tuple[ClassScore, ...]
    rows: int
    accuracy: float
    solution: str
    competition: str
    notes: tuple[str, ...] = ()
    holds: Holds = "labels"

    def __repr__(self) -> str:
        accuracy = None if self.metric == "accuracy" else self.accuracy
        fields = {"metric": self.metric, "score": self.score, "accuracy": accuracy, "rows": self.rows}
        return short_repr("ScoreResult", {**fields, "competition": self.competition})

    def _repr_html_(self) -> str:
        about = facts(
            [
                (self.metric, number(self.score)),
                ("accuracy", number(self.accuracy) if self.metric != "accuracy" else None),
                ("rows", number(self.rows)),
                ("holds", self.holds),
                ("answers", self.solution),
            ]
        )
        parts = [about, *(note(text) for text in self.notes)]
        if self.per_class:
            rows = [(entry.value, number(entry.count), number(entry.accuracy)) for entry in self.per_class]
            parts.append(table(("class", "rows", "accuracy"), rows))
        return card(f"ScoreResult · {self.competition}", *parts)


def _data_dir(sidecar: Sidecar | None) -> Path | None:
    """The data folder a ``kit predict`` submission came from: its sidecar's, else its first run's."""
    if sidecar is None:
        return None
    if sidecar.data_dir:
        return Path(sidecar.data_dir)
    for run in getattr(sidecar, "runs", None) or []:
        folder = RunFolder(Path(str(run.get("run", "")))) if isinstance(run, dict) else None
        if folder is not None and folder.summary_path.is_file():
            return folder.summary().data_folder()
    return None


def _probabilities_beside(path: Path, holds: Holds, predicted: np.ndarray, notes: list[str]) -> tuple[Holds, Any]:
    """A label submission's probabilities from ``<name>.npy`` beside it (``kit predict`` writes them), for a metric
    that needs them; unchanged where there is none. Refused where its rows do not give the file's labels."""
    beside = path.with_suffix(".npy")
    if holds != "labels" or predicted.ndim != 1 or not beside.is_file():
        return holds, predicted
    from kit.utils import load_array

    proba = load_array(beside, "f", (len(predicted), None))
    if not np.array_equal(proba.argmax(axis=1), predicted):
        raise KitError(f"{beside}: its rows do not give the labels of {path.name}; rewrite both with kit predict")
    notes.append(f"scored on the probabilities in {beside.name}")
    return "probabilities", proba


def answers(
    competition: Competition, solution: Path | str | None, data_dir: Path | None
) -> tuple[list[str], np.ndarray, str]:
    """The answer ids (as keys), their truth (class indices, or a multi-label task's 0/1 matrix) and where they came
    from."""
    if solution is None and data_dir is not None and (data_dir / competition.solution_file).is_file():
        solution = data_dir / competition.solution_file
    if solution is not None:
        path = Path(solution)
        frame = read_csv(path, "solution file")
        truth = truth_of(path, frame, competition)
        return list(frame[competition.submission_columns[0]].map(id_key)), truth, str(path)
    if data_dir is not None and competition.test_labels and (data_dir / competition.test_file).is_file():
        from kit.data import id_values, label_indices

        path = data_dir / competition.test_file
        frame = read_csv(path, "test file")
        labels = label_indices(path, frame[competition.label_column], competition)
        if competition.test_id_column:
            ids = id_values(path, frame[competition.test_id_column], competition.test_id_column)
        else:
            ids = np.arange(competition.first_id, competition.first_id + len(frame))
        return [id_key(value) for value in ids], labels, f"{path} (its labels)"
    where = f"in {data_dir}" if data_dir is not None else "(no data folder known)"
    raise KitError(f"no answers to score against: no {competition.solution_file} {where}; give the solution file")


def has_answers(data_dir: Path | str | None, competition: Competition | str | None = None) -> bool:
    """Whether ``data_dir`` holds answers to score a submission against (``kit predict`` then prints the score)."""
    if data_dir is None:
        return False
    folder = Path(data_dir)
    try:
        spec = as_competition(competition, folder)
    except KitError:  # no spec for the folder: nothing to score against
        return False
    return (folder / spec.solution_file).is_file() or (spec.test_labels and (folder / spec.test_file).is_file())


@renamed(data_dir="data")
def score_submission(
    path: Path | str,
    solution: Path | str | None = None,
    data: Path | str | None = None,
    competition: Competition | str | None = None,
    metric: str | None = None,
    record: bool = True,
) -> ScoreResult:
    """Score the submission at ``path``; with ``record`` note the score under ``local_score`` in its sidecar JSON.

    The competition is the one given, else the sidecar's (``kit predict`` writes it), else the data folder's spec; the
    data folder is the one given, else the one the submission's runs were trained on. ``metric`` overrides the
    competition's (any of :data:`kit.competitions.METRICS`, ``map_at_K`` included).
    """
    path = Path(path)
    frame = read_csv(path, "submission")
    notes: list[str] = []
    try:
        sidecar = read_sidecar(path)
    except KitError as error:
        sidecar, record = None, False
        notes.append(str(error))
    folder = Path(data) if data is not None else _data_dir(sidecar)
    spec = as_competition(competition if competition is not None else sidecar and sidecar.competition, folder)
    if metric is not None:
        get_metric(metric)
    ids, truth, source = answers(spec, solution, folder)
    holds, predicted = held(path, frame, spec)
    if metric is not None and METRICS[metric].needs == "probabilities":
        holds, predicted = _probabilities_beside(path, holds, predicted, notes)
    predicted = predicted[row_order(path, frame, spec.submission_columns[0], ids, source)]
    chosen, score, accuracy = _scored(path, spec, metric, truth, holds, predicted, notes)
    per_class = _per_class(spec, truth, holds, predicted)
    result = ScoreResult(chosen, score, per_class, len(truth), accuracy, source, spec.name, tuple(notes), holds)
    if record:
        _record(path, result)
    return result


def _scored(
    path: Path, spec: Competition, metric: str | None, truth: np.ndarray, holds: Holds, predicted: np.ndarray,
    notes: list[str],
) -> tuple[str, float, float]:  # fmt: skip
    """The metric scored (the one given, else the competition's), its score and the accuracy of the labels. A file
    of labels scored by the competition's metric of probabilities is scored by accuracy, with a note; one given is
    refused."""
    chosen = metric or spec.metric
    if METRICS[chosen].needs == "probabilities" and holds != "probabilities":
        if metric is not None:
            need = (
                f"the probability of class {spec.class_values[1]!r}"
                if spec.submission_kind == "probability"
                else "one probability column per " + ("label" if spec.multilabel else "class")
            )
            held_text = "ranked labels" if holds == "ranking" else "labels"
            raise KitError(
                f"{path}: {chosen} needs {need}; this file holds {held_text} only, and no {path.stem}.npy lies "
                "beside it",
                argument="metric",
            )
        notes.append(f"the competition's metric is {chosen}, which needs class probabilities; scored accuracy instead")
        chosen = "accuracy"
    scorer, accuracy = METRICS[chosen], METRICS["accuracy"]
    if holds == "probabilities":
        return chosen, scorer.score(truth, predicted), accuracy.score(truth, predicted)
    labels = predicted[:, 0] if holds == "ranking" else predicted
    score = scorer.score_labels(truth, predicted if scorer.needs == "ranking" else labels, spec.classes)
    return chosen, score, accuracy.score_labels(truth, labels, spec.classes)


def _per_class(spec: Competition, truth: np.ndarray, holds: Holds, predicted: np.ndarray) -> tuple[ClassScore, ...]:
    """The accuracy on each class of the answers (the argmax of probabilities, the first of ranked labels); none
    for a multi-label task."""
    if truth.ndim != 1:
        return ()
    labels = (
        predicted.argmax(axis=1) if holds == "probabilities" else predicted[:, 0] if holds == "ranking" else predicted
    )
    return tuple(
        ClassScore(value, int(np.sum(truth == k)), float(np.mean(labels[truth == k] == k)))
        for k, value in enumerate(spec.class_values)
        if np.any(truth == k)
    )


def _record(path: Path, result: ScoreResult) -> None:
    """Note ``local_score`` in the submission's sidecar, keeping every other key."""
    local = {
        "metric": result.metric,
        "score": result.score,
        "accuracy": result.accuracy,
        "rows": result.rows,
        "solution": result.solution,
        "scored_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    note_sidecar(path, local_score=local)
