"""The leaderboard of a submissions folder (:func:`leaderboard`): every submission with a kit sidecar — its method,
runs, honest OOF score in the competition's metric, local and public scores — best first per competition, with the
one to upload marked by :data:`UPLOAD_RULE`; and the rule's parts, which ``kit predict``'s notes use too:
:func:`score_noise` (the noise of an OOF score) and :func:`verdict` (does a method beat the equal vote of its runs)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from kit.competitions import get_metric
from kit.crossval import RunFolder
from kit.errors import KitError
from kit.submission._sidecar import read_sidecar
from kit.utils import renamed
from kit.utils._display import card, note, number, table

# The sidecar's keys of each method's OOF score, as kit.ensemble writes them (a test checks they match).
EQUAL, GIVEN, AUTO, CROSS_FITTED = "equal", "given", "auto, in-sample", "auto, cross-fitted"
SELECTED, SELECTED_HONEST, STACKED, DISTILLED = (
    "selected, in-sample",
    "selected, cross-fitted",
    "stack, out of fold",
    "distilled",
)
HONEST = {AUTO: CROSS_FITTED, SELECTED: SELECTED_HONEST}  # an in-sample method's honest twin; others are their own
METHODS = {EQUAL: "equal vote", GIVEN: "weights", AUTO: "auto weights", SELECTED: "selection", STACKED: "stack"}
DRAWS = 200  # bootstrap resamples of the OOF rows
UPLOAD_RULE = (
    "the best honest OOF score (cross-fitted or out of fold, never in-sample); a submission chosen on the OOF rows "
    "(weights, selection, stack, thresholds) must beat the equal vote of its own runs by more than the noise, else "
    "the next one down is marked (the equal vote, where it was written). The noise is the standard error of the "
    "equal vote's OOF score over its n OOF rows: binomial, sqrt(p(1-p)/n), for accuracy; for another metric the "
    f"spread of {DRAWS} bootstrap resamples of the rows."
)


@dataclass(frozen=True)
class Verdict:
    """A method's honest OOF score against a baseline's (the equal vote of the same runs) with the ``noise`` of the
    estimate (None: unknown). ``beats``: better by more than the noise."""

    honest: float
    baseline: float
    noise: float | None
    greater_is_better: bool

    @property
    def difference(self) -> float:
        return self.honest - self.baseline

    @property
    def gain(self) -> float:
        """The difference in the direction of better."""
        return self.difference if self.greater_is_better else -self.difference

    @property
    def beats(self) -> bool:
        return self.noise is not None and self.gain > self.noise


def verdict(honest: float, baseline: float, noise: float | None, metric: str) -> Verdict:
    """Whether ``honest`` beats ``baseline`` in ``metric`` by more than ``noise``."""
    return Verdict(float(honest), float(baseline), noise, get_metric(metric).greater_is_better)


def score_noise(metric: str, labels: np.ndarray, proba: np.ndarray, draws: int = DRAWS, seed: int = 0) -> float | None:
    """The standard error of the OOF score of ``proba`` in ``metric``: for accuracy the binomial sqrt(p(1-p)/n); for
    another metric the standard deviation of its score on ``draws`` bootstrap resamples of the rows (seeded; None
    when fewer than two resamples can be scored)."""
    scorer, labels, proba = get_metric(metric), np.asarray(labels), np.asarray(proba)
    if metric == "accuracy":
        p = scorer.score(labels, proba)
        return float(np.sqrt(p * (1 - p) / len(labels)))
    rng, scores = np.random.default_rng(seed), []
    for _ in range(draws):
        rows = rng.integers(0, len(labels), len(labels))
        try:
            scores.append(scorer.score(labels[rows], proba[rows]))
        except (KitError, ValueError):  # a resample missing a class some metrics need
            continue
    return float(np.std(scores, ddof=1)) if len(scores) > 1 else None


@dataclass(frozen=True)
class LeaderboardRow:
    """One submission: file ``name``, competition, ``method`` (e.g. ``selection + TTA×2``), ``members`` (run names),
    the ``honest`` OOF score in ``metric`` (None: none, e.g. distilled), the ``runs`` as the sidecar names them, the
    ``equal`` vote of the same runs, the ``noise`` of the estimate, whether it was ``chosen`` on the OOF rows, the
    local and public scores, whether it is ``marked`` to upload and a ``note``."""

    name: str
    competition: str
    method: str
    members: tuple[str, ...]
    metric: str
    honest: float | None
    runs: tuple[str, ...] = ()
    equal: float | None = None
    noise: float | None = None
    chosen: bool = False
    local: float | None = None
    local_metric: str | None = None
    public: float | None = None
    marked: bool = False
    note: str = ""

    @property
    def verdict(self) -> Verdict | None:
        """How it fares against the equal vote of its runs (None without both scores)."""
        if self.honest is None or self.equal is None:
            return None
        return verdict(self.honest, self.equal, self.noise, self.metric)


@dataclass(frozen=True)
class CompetitionBoard:
    """One competition's rows, best first by the honest OOF score in ``metric``, and why the marked one was."""

    competition: str
    metric: str
    rows: tuple[LeaderboardRow, ...]
    reason: str

    @property
    def marked(self) -> LeaderboardRow | None:
        return next((row for row in self.rows if row.marked), None)


@dataclass(frozen=True)
class Leaderboard:
    """Every submission of ``out_dir`` with a kit sidecar, per competition (``boards``); ``unknown``: the other CSVs,
    each with why; ``rule``: how the one to upload is picked."""

    out_dir: Path
    boards: tuple[CompetitionBoard, ...]
    unknown: tuple[str, ...] = ()
    rule: str = UPLOAD_RULE

    @property
    def rows(self) -> tuple[LeaderboardRow, ...]:
        return tuple(row for board in self.boards for row in board.rows)

    @property
    def marked(self) -> tuple[LeaderboardRow, ...]:
        return tuple(board.marked for board in self.boards if board.marked is not None)

    def __repr__(self) -> str:
        chosen = ", ".join(row.name for row in self.marked) or "none"
        return f"Leaderboard({self.out_dir}: {len(self.rows)} submissions, upload {chosen})"

    def _repr_html_(self) -> str:
        """Per competition a table best first (the row to upload marked ▶), why it is marked; then the rule."""
        parts = []
        for board in self.boards:
            heading = ("", "submission", "method", "runs", f"OOF {board.metric}", "vs equal", "local", "public")
            rows = [
                (
                    "▶" if row.marked else "",
                    row.name.removesuffix(".csv"),
                    row.method,
                    ", ".join(row.members),
                    number(row.honest),
                    f"{row.verdict.difference:+.4f}" if row.verdict is not None and row.chosen else "",
                    number(row.local) + ("" if row.local_metric in (None, row.metric) else f" {row.local_metric}"),
                    number(row.public),
                )
                for row in board.rows
            ]
            parts += [note(f"{board.competition}: best first by honest OOF {board.metric}"), table(heading, rows)]
            parts += [
                note(f"upload {board.reason}"),
                *(note(f"{row.name}: {row.note}") for row in board.rows if row.note),
            ]
        if not self.boards:
            parts.append(note(f"no submissions in {self.out_dir} (kit predict writes them there)"))
        parts += [note(f"not ranked: {line}") for line in self.unknown]
        return card(f"Leaderboard · {self.out_dir}", *parts, note(f"rule: {self.rule}") if self.boards else "")


@renamed(out_dir="out")
def leaderboard(out: Path | str = "submissions", competition: str | None = None) -> Leaderboard:
    """Read every ``out/*.csv`` (the folder ``kit predict`` wrote into) and its sidecar into a :class:`Leaderboard`
    (only ``competition``'s rows when given); mark one row per competition by :data:`UPLOAD_RULE`."""
    folder = Path(out)
    if not folder.is_dir():
        raise KitError(f"{folder}: no such folder (kit predict writes submissions there)", argument="out")
    rows, unknown, noises = [], [], {}
    for path in sorted(folder.glob("*.csv")):
        try:
            sidecar = read_sidecar(path)
        except KitError as error:
            unknown.append(f"{path.name}: {error}")
            continue
        content = sidecar.to_json() if sidecar is not None else {}
        if not content.get("runs") or not content.get("competition"):
            unknown.append(f"{path.name}: {'no kit sidecar' if sidecar is None else 'not written by kit predict'}")
            continue
        if competition is None or content["competition"] == competition:
            rows.append(read_row(path, content, noises))
    groups: dict[str, list[LeaderboardRow]] = {}
    for row in rows:
        groups.setdefault(row.competition, []).append(row)
    return Leaderboard(folder, tuple(rank(name, group) for name, group in sorted(groups.items())), tuple(unknown))


def read_row(path: Path, content: dict[str, Any], noises: dict[tuple, float | None]) -> LeaderboardRow:
    """The row of one sidecar; ``noises`` caches the noise per runs and metric."""
    metric, honest, equal, chosen = honest_scores(content)
    runs = [str(run.get("run", "")) for run in content["runs"] if isinstance(run, dict)]
    key = (tuple(runs), metric)
    if honest is not None and key not in noises:
        noises[key] = runs_noise(runs, metric, path.parent)
    local = content.get("local_score") or {}
    note = "" if honest is not None else f"no OOF score ({method_of(content)} is scored on a hold-out)"
    return LeaderboardRow(
        name=path.name,
        competition=content["competition"],
        method=method_of(content),
        members=tuple(Path(run).name for run in runs),
        runs=tuple(runs),
        metric=metric,
        honest=honest,
        equal=equal,
        noise=noises.get(key),
        chosen=chosen,
        local=local.get("score"),
        local_metric=local.get("metric"),
        public=public_score(content),
        note=note,
    )


def honest_scores(content: dict[str, Any]) -> tuple[str, float | None, float | None, bool]:
    """The metric, honest OOF score, the equal vote's score and whether the method was chosen on the OOF rows. A
    sidecar older than ``metric``/``oof_metric_scores`` gives accuracy from ``oof_scores``. QWK cut points count
    cross-fitted, less the in-sample optimism of a weighting chosen on the same rows."""
    weighting = content.get("weighting") or EQUAL
    metric, scores = content.get("metric"), content.get("oof_metric_scores")
    if not metric or not isinstance(scores, dict):
        metric = "accuracy"
        old = content.get("oof_scores") or {}
        scores = {key: value.get("accuracy") for key, value in old.items() if isinstance(value, dict)}
    honest, equal = scores.get(HONEST.get(weighting, weighting)), scores.get(EQUAL)
    cuts, chosen = content.get("qwk_thresholds"), weighting != EQUAL
    if isinstance(cuts, dict) and "oof_qwk_cross_fitted" in cuts and metric == "qwk" and honest is not None:
        optimism = (scores.get(weighting) or honest) - honest
        honest, chosen = cuts["oof_qwk_cross_fitted"] - optimism, True
    return metric, honest, equal, chosen


def method_of(content: dict[str, Any]) -> str:
    """How the submission was made, in words: ``equal vote``, ``weights 2:1``, ``selection + TTA×2 int8``…"""
    weighting = content.get("weighting") or EQUAL
    method = METHODS.get(weighting, "distill" if weighting == DISTILLED else weighting)
    if weighting == GIVEN and content.get("weights"):
        method += " " + ":".join(f"{weight:.2g}" for weight in content["weights"])
    if content.get("tta"):
        method += f" + TTA×{content['tta']}" + (" int8" if content.get("tta_precision") == "int8" else "")
    if content.get("qwk_thresholds"):
        method += " + thresholds"
    return method


def public_score(content: dict[str, Any]) -> float | None:
    """The latest public score Kaggle gave the file (None: never scored)."""
    scored = [entry for entry in content.get("kaggle") or [] if entry.get("public_score") not in (None, "")]
    try:
        return float(max(scored, key=lambda entry: entry.get("submitted_at", ""))["public_score"]) if scored else None
    except ValueError:
        return None


def runs_noise(runs: Sequence[str], metric: str, out_dir: Path) -> float | None:
    """:func:`score_noise` of the equal vote of the runs' own OOF softmaxes (without TTA); None where a run is gone
    or unreadable. A relative run path is tried from here, then from the submissions folder's parent."""
    try:
        folders = [RunFolder(next((p for p in (Path(r), out_dir.parent / r) if p.is_dir()), Path(r))) for r in runs]
        labels = np.load(folders[0].labels_path)
        vote = np.mean([np.load(folder.oof_path) for folder in folders], axis=0)
        return score_noise(metric, labels, vote)
    except (OSError, ValueError, KitError, IndexError):
        return None


def rank(competition: str, rows: list[LeaderboardRow]) -> CompetitionBoard:
    """Sort ``rows`` best first by their honest score in the board's metric (the most common among rows that name
    one); mark the best that is not chosen on the OOF rows or beats its equal vote by more than the noise."""
    common = Counter(row.metric for row in rows if row.honest is not None).most_common(1)
    metric = common[0][0] if common else "accuracy"
    sign = -1 if get_metric(metric).greater_is_better else 1
    scored = sorted(
        (row for row in rows if row.honest is not None and row.metric == metric),
        key=lambda row: (sign * row.honest, row.chosen, row.name),
    )
    ranked = {row.name for row in scored}
    others = sorted((row for row in rows if row.name not in ranked), key=lambda row: row.name)
    passed, marked = [], None
    for row in scored:
        if not row.chosen or (row.verdict is not None and row.verdict.beats):
            marked = row
            break
        passed.append(row)
    ordered = [replace(row, marked=row is marked, note=row_note(row)) for row in scored]
    ordered += [replace(row, note=row.note or f"scored in {row.metric}, not compared") for row in others]
    return CompetitionBoard(competition, metric, tuple(ordered), reason(marked, passed, metric))


def row_note(row: LeaderboardRow) -> str:
    """How a row chosen on the OOF rows fares against the equal vote of its runs."""
    judged = row.verdict
    if not row.chosen or judged is None:
        return row.note
    if judged.noise is None:
        return f"{judged.difference:+.4f} vs its equal vote; noise unknown (runs not found)"
    word = "beats its equal vote" if judged.beats else "within the noise of its equal vote"
    if judged.gain <= 0:
        word = "no better than its equal vote"
    return f"{word} ({judged.difference:+.4f}, noise ±{judged.noise:.4f})"


def reason(marked: LeaderboardRow | None, passed: list[LeaderboardRow], metric: str) -> str:
    """Why ``marked`` is the one to upload, naming the better-scored rows ``passed`` over."""
    skipped = ", ".join(row.name for row in passed)
    beaten = "did not beat the equal vote of their runs by more than the noise"
    if marked is None:
        if not passed:
            return "nothing to mark: no submission has an honest OOF score"
        return f"nothing to mark: {skipped} {beaten}; write the equal vote: kit predict {' '.join(passed[0].runs)}"
    why = f"{marked.name}: the best honest OOF {metric} ({marked.honest:.4f})"
    if marked.chosen and marked.verdict is not None and marked.noise is not None:
        gain = marked.verdict.difference
        return f"{why}; it beats the equal vote of its runs by {gain:+.4f}, more than the noise (±{marked.noise:.4f})"
    if passed:
        return f"{why}; passed over, chosen on the OOF rows and not beating their equal vote by the noise: {skipped}"
    return why
