"""Which combination of the members ``kit auto`` writes: each way of combining (equal vote, fitted weights, greedy
selection, stack) scored honestly in the metric — cross-fitted where it chose something on the OOF rows, out of fold
for the stack — and the equal vote kept unless another beats it by more than the noise of the estimate.

The noise is a paired bootstrap of the OOF rows: both ways are scored on the same resampled rows, ``BOOTSTRAP``
times, and a way replaces the equal vote only when its gain over it exceeds ``Z`` standard deviations of those
resampled gains (about a one-sided 97.7 % margin), so one lucky row never flips the choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kit.competitions import get_metric
from kit.ensemble import EqualWeights, FittedWeights, GreedySelection, Stacked, load_member
from kit.ensemble._crossfit import default_metric

if TYPE_CHECKING:
    from kit.ensemble._members import Member

BOOTSTRAP = 200
Z = 2.0
EQUAL, WEIGHTS, SELECT, STACK = "equal vote", "fitted weights", "greedy selection", "stack"
FLAGS = {EQUAL: {}, WEIGHTS: {"auto_weights": True}, SELECT: {"select": True}, STACK: {"stack": True}}


@dataclass(frozen=True)
class WayScore:
    """One way of combining: its honest OOF score, its gain over the equal vote (in the metric's direction:
    positive is better) and the margin that gain had to clear."""

    way: str
    score: float
    gain: float = 0.0
    margin: float = 0.0

    @property
    def beats_equal(self) -> bool:
        return self.way != EQUAL and self.gain > self.margin


@dataclass(frozen=True)
class Choice:
    """The chosen way, every way's :class:`WayScore`, and the rule as one sentence."""

    way: str
    scores: tuple[WayScore, ...]
    metric: str
    reason: str

    @property
    def flags(self) -> dict[str, bool]:
        """The :func:`kit.predict` arguments of the chosen way."""
        return dict(FLAGS[self.way])

    @property
    def score(self) -> float:
        return next(entry.score for entry in self.scores if entry.way == self.way)


def paired_margin(
    metric_name: str, labels: np.ndarray, base: np.ndarray, other: np.ndarray, seed: int = 0
) -> tuple[float, float]:
    """(gain, margin): ``other``'s score minus ``base``'s in the metric's direction, and ``Z`` standard deviations
    of that gain over ``BOOTSTRAP`` paired resamples of the rows."""
    metric = get_metric(metric_name)
    sign = 1.0 if metric.greater_is_better else -1.0
    gain = sign * (metric.score(labels, other) - metric.score(labels, base))
    rng = np.random.default_rng(seed)
    rows = len(labels)
    gains = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, rows, rows)
        try:
            gains.append(sign * (metric.score(labels[pick], other[pick]) - metric.score(labels[pick], base[pick])))
        except ValueError:  # a resample missing a class for AUC: skip it
            continue
    spread = float(np.std(gains)) if len(gains) > 1 else float("inf")
    return float(gain), Z * spread


def fitted_ways(
    members: Sequence[Any], metric: str, seed: int = 0, selection_metric: str | None = None
) -> dict[str, Any]:
    """Per way of combining the ``members`` (:class:`kit.ensemble._members.Member`), its combiner fitted on their
    OOF rows as :func:`kit.predict` fits it: fitted weights optimise ``metric``, selection ``selection_metric``
    (default a smooth stand-in for a metric of labels)."""
    labels, oofs = members[0].labels, [member.oof for member in members]
    ways = {EQUAL: EqualWeights().fit(oofs, labels)}
    if len(members) > 1:
        ways[WEIGHTS] = FittedWeights(seed, metric).fit(oofs, labels)
        ways[SELECT] = GreedySelection(selection_metric or default_metric(metric), seed).fit(oofs, labels)
        ways[STACK] = Stacked([member.run for member in members]).fit(oofs, labels)
    return ways


def as_members(runs: Sequence[str | Path | Member]) -> list[Member]:
    """The members of ``runs``: each a run folder, loaded here, or a member its caller loaded already (so a step of
    ``kit auto`` reads each run's arrays once for all its choices)."""
    return [load_member(run) if isinstance(run, str | Path) else run for run in runs]


def honest_oofs(
    runs: Sequence[str | Member], metric: str, seed: int = 0, selection_metric: str | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The OOF labels and, per way of combining ``runs`` (run folders or loaded members, :func:`fitted_ways`), its
    honest combined OOF probabilities."""
    members = as_members(runs)
    ways = fitted_ways(members, metric, seed, selection_metric)
    honest = {way: c.honest_oof if c.honest_oof is not None else c.oof for way, c in ways.items()}
    return members[0].labels, honest


def choose_way(runs: Sequence[str | Member], metric: str, seed: int = 0, selection_metric: str | None = None) -> Choice:
    """The way to combine ``runs`` (run folders or loaded members): the equal vote unless another way's honest score
    beats it by the margin (the best such way by its gain then)."""
    labels, honest = honest_oofs(runs, metric, seed, selection_metric)
    return choose_from(labels, honest, metric, seed)


def choose_from(labels: np.ndarray, honest: dict[str, np.ndarray], metric: str, seed: int = 0) -> Choice:
    """:func:`choose_way` given each way's honest OOF probabilities."""
    scorer = get_metric(metric)
    equal = honest[EQUAL]
    scores = [WayScore(EQUAL, scorer.score(labels, equal))]
    for way, proba in honest.items():
        if way != EQUAL:
            gain, margin = paired_margin(metric, labels, equal, proba, seed)
            scores.append(WayScore(way, scorer.score(labels, proba), gain, margin))
    winners = sorted((entry for entry in scores if entry.beats_equal), key=lambda entry: -entry.gain)
    if winners:
        best = winners[0]
        reason = (
            f"{best.way} beats the equal vote by {best.gain:+.4f} {metric} (honest OOF), more than the noise margin "
            f"{best.margin:.4f} ({Z:g} sd of {BOOTSTRAP} paired bootstrap resamples)"
        )
        return Choice(best.way, tuple(scores), metric, reason)
    if len(scores) == 1:
        return Choice(EQUAL, tuple(scores), metric, "one member: its own folds' softmax")
    best_other = max(scores[1:], key=lambda entry: entry.gain)
    reason = (
        f"equal vote kept: the best other way ({best_other.way}, {best_other.gain:+.4f}) is within the noise margin "
        f"{best_other.margin:.4f} ({Z:g} sd of {BOOTSTRAP} paired bootstrap resamples of the OOF rows)"
    )
    return Choice(EQUAL, tuple(scores), metric, reason)


def joins_vote(pool: Sequence[str | Member], run: str | Member, metric: str) -> tuple[bool, float, float]:
    """Whether ``run`` joins the vote of the runs in ``pool`` (run folders or loaded members): the equal vote's OOF
    score in ``metric`` without and with it, and whether it is no worse with it. A member that drags the plain vote
    down is left out of every way of combining; one that ties stays, as averaging more members of like quality
    steadies the vote on unseen rows even where the OOF decisions do not move (a log-loss tie-break would leave out
    every label-smoothed member)."""
    from kit.ensemble import soft_vote

    scorer = get_metric(metric)
    members = as_members([*pool, run])
    labels = members[0].labels
    without = scorer.score(labels, soft_vote([member.oof for member in members[:-1]]))
    with_it = scorer.score(labels, soft_vote([member.oof for member in members]))
    return not scorer.better(without, with_it), float(without), float(with_it)
