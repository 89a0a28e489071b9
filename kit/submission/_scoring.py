"""A local leaderboard: score a submission against held-out answers with the competition's metric.

The answers are ``solution.csv`` beside the data (the demo data has one), a file given, or the labels of a test file
that carries them (``files.test_labels``). A submission holds labels (scored by accuracy or macro-F1) or one
probability column per class (which log-loss needs). The score is noted under ``local_score`` in the submission's
sidecar JSON, keeping every other key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.competitions import METRICS, Competition, as_competition, get_metric
from kit.crossval import RunFolder
from kit.errors import KitError
from kit.submission._format import id_key
from kit.submission._sidecar import Sidecar, note_sidecar, read_sidecar


@dataclass(frozen=True)
class ClassScore:
    """One class of the answers: its value as in the data, how many test rows have it, the share predicted right."""

    value: Any
    count: int
    accuracy: float


@dataclass(frozen=True)
class ScoreResult:
    """The score of a submission: ``metric``, ``score``, per-class accuracy, rows scored, the answers used, notes."""

    metric: str
    score: float
    per_class: tuple[ClassScore, ...]
    rows: int
    accuracy: float
    solution: str
    competition: str
    notes: tuple[str, ...] = ()


def _data_dir(sidecar: Sidecar | None) -> Path | None:
    """The data folder a ``kit predict`` submission came from: its sidecar's, else its first run's."""
    if sidecar is None:
        return None
    if sidecar.data_dir:
        return Path(sidecar.data_dir)
    for run in getattr(sidecar, "runs", None) or []:
        folder = RunFolder(Path(str(run.get("run", "")))) if isinstance(run, dict) else None
        if folder is not None and folder.summary_path.is_file():
            data_dir = folder.summary().data_dir
            if data_dir:
                return Path(data_dir)
    return None


def _read(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise KitError(f"{path}: {what} not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise KitError(f"{path}: not a valid CSV ({type(error).__name__})") from None
    frame.columns = [str(column) for column in frame.columns]
    if frame.empty:
        raise KitError(f"{path}: no rows")
    return frame


def _indices(path: Path, values: pd.Series, competition: Competition, column: str) -> np.ndarray:
    """Label cells → class indices, failing on the first cell that is not a class."""
    lookup = {id_key(value): index for index, value in enumerate(competition.class_values)}
    indices = values.map(lambda v: lookup.get(id_key(_whole(v)), -1)).to_numpy(dtype=np.int64)
    if (indices < 0).any():
        row = int(np.argmax(indices < 0))
        raise KitError(
            f"{path}: line {row + 2}, column {column}: {values.iloc[row]!r} is not a class "
            f"({competition.describe_classes()})"
        )
    return indices


def _whole(value: str) -> Any:
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if np.isfinite(number) and number == int(number) else value


def answers(
    competition: Competition, solution: Path | str | None, data_dir: Path | None
) -> tuple[list[str], np.ndarray, str]:
    """The answer ids (as keys), class indices and where they came from."""
    id_column, label_column = competition.submission_columns
    if solution is None and data_dir is not None and (data_dir / competition.solution_file).is_file():
        solution = data_dir / competition.solution_file
    if solution is not None:
        path = Path(solution)
        frame = _read(path, "solution file")
        missing = [column for column in (id_column, label_column) if column not in frame.columns]
        if missing:
            raise KitError(f"{path}: no column {missing[0]}; a solution file needs columns {id_column},{label_column}")
        return (
            list(frame[id_column].map(id_key)),
            _indices(path, frame[label_column], competition, label_column),
            str(path),
        )
    if data_dir is not None and competition.test_labels and (data_dir / competition.test_file).is_file():
        from kit.data import id_values, label_indices

        path = data_dir / competition.test_file
        frame = _read(path, "test file")
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
    spec = as_competition(competition, folder)
    return (folder / spec.solution_file).is_file() or (spec.test_labels and (folder / spec.test_file).is_file())


def _predictions(path: Path, frame: pd.DataFrame, competition: Competition) -> tuple[np.ndarray, np.ndarray | None]:
    """Class indices, and class probabilities when the submission has one column per class."""
    id_column, label_column = competition.submission_columns
    class_columns = [str(value) for value in competition.class_values]
    if id_column not in frame.columns:
        raise KitError(f"{path}: no column {id_column}; expected {','.join(competition.submission_columns)}")
    if label_column in frame.columns:
        return _indices(path, frame[label_column], competition, label_column), None
    if all(column in frame.columns for column in class_columns):
        probabilities = frame[class_columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(probabilities) | (probabilities < 0)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise KitError(f"{path}: line {row + 2}, column {class_columns[col]}: not a probability")
        sums = probabilities.sum(axis=1, keepdims=True)
        if (sums <= 0).any():
            raise KitError(f"{path}: line {int(np.argmax(sums[:, 0] <= 0)) + 2}: the probabilities are all zero")
        probabilities = probabilities / sums
        return probabilities.argmax(axis=1), probabilities
    raise KitError(
        f"{path}: columns are {','.join(frame.columns)}; expected {id_column},{label_column} "
        f"or {id_column} and one probability column per class"
    )


def score_submission(
    path: Path | str,
    solution: Path | str | None = None,
    data_dir: Path | str | None = None,
    competition: Competition | str | None = None,
    metric: str | None = None,
    record: bool = True,
) -> ScoreResult:
    """Score the submission at ``path``; with ``record`` note the score under ``local_score`` in its sidecar JSON.

    The competition is the one given, else the sidecar's (``kit predict`` writes it), else the data folder's spec; the
    data folder is the one given, else the one the submission's runs were trained on. ``metric`` overrides the
    competition's (accuracy, log_loss or macro_f1).
    """
    path = Path(path)
    frame = _read(path, "submission")
    notes: list[str] = []
    try:
        sidecar = read_sidecar(path)
    except KitError as error:
        sidecar, record = None, False
        notes.append(str(error))
    folder = Path(data_dir) if data_dir is not None else _data_dir(sidecar)
    spec = as_competition(competition if competition is not None else sidecar and sidecar.competition, folder)
    if metric is not None:
        get_metric(metric)
    ids, truth, source = answers(spec, solution, folder)
    predicted, probabilities = _predictions(path, frame, spec)
    id_column = spec.submission_columns[0]
    keys = frame[id_column].map(id_key)
    if keys.duplicated().any():
        row = int(np.argmax(keys.duplicated().to_numpy()))
        raise KitError(f"{path}: line {row + 2}, column {id_column}: id {keys.iloc[row]} appears twice")
    position = {key: row for row, key in enumerate(keys)}
    missing = [key for key in ids if key not in position]
    if missing:
        raise KitError(f"{path}: no prediction for id {missing[0]} ({len(missing)} of the {len(ids)} answers missing)")
    if len(position) != len(ids):
        extra = next(key for key in keys if key not in set(ids))
        raise KitError(f"{path}: id {extra} is not in the answers ({source})")
    order = np.array([position[key] for key in ids], dtype=np.int64)
    predicted = predicted[order]
    chosen = metric or spec.metric
    if chosen == "log_loss" and probabilities is None:
        if metric == "log_loss":
            raise KitError(f"{path}: log_loss needs one probability column per class; this file holds labels only")
        notes.append("the competition's metric is log_loss, which needs class probabilities; scored accuracy instead")
        chosen = "accuracy"
    accuracy = METRICS["accuracy"].score_labels(truth, predicted, spec.classes)
    scorer = METRICS[chosen]
    if scorer.needs == "probabilities":
        score = scorer.score(truth, probabilities[order])
    else:
        score = scorer.score_labels(truth, predicted, spec.classes)
    per_class = tuple(
        ClassScore(
            value, int(np.sum(truth == k)), float(np.mean(predicted[truth == k] == k)) if np.any(truth == k) else 0.0
        )
        for k, value in enumerate(spec.class_values)
        if np.any(truth == k)
    )
    result = ScoreResult(chosen, score, per_class, len(truth), accuracy, source, spec.name, tuple(notes))
    if record:
        _record(path, result)
    return result


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
