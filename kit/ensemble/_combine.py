"""Combining runs (:func:`build_ensemble`): soft voting with equal, given or fitted weights, greedy selection or
stacking, with TTA copies of the members where asked. The result is an :class:`Ensemble` with the combined OOF and
test softmaxes and the OOF score of every combination tried, honest ones included."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kit.competitions import get_metric, softmax_scores
from kit.engine import PRECISIONS
from kit.ensemble._combiners import Combiner, EqualWeights, check_one_way, choose_combiner
from kit.ensemble._crossfit import default_metric
from kit.ensemble._members import Member, check_compatible, load_member
from kit.ensemble._tta import augment_members, augmented_models
from kit.errors import KitError
from kit.utils import Callback, as_callback_list

MAX_TTA = 64  # augmented copies: each one predicts every OOF and test image with every fold's model

if TYPE_CHECKING:
    from kit.ensemble._selection import Selection
    from kit.ensemble._stacking import Stack
    from kit.utils import CallbackList


@dataclass(frozen=True, eq=False)
class Ensemble:
    """Members, their normalised weights, the combined OOF and test softmaxes, and the OOF scores of each method.

    ``weighting`` names the method whose softmaxes ``oof`` and ``test`` hold (a key of ``scores``, whose values are
    (accuracy, log loss), and of ``metric_scores``, each method's OOF score in the competition's ``metric``);
    ``selection`` / ``stack`` hold the details of greedy selection or stacking when used.
    """

    members: tuple[Member, ...]
    weights: np.ndarray
    weighting: str
    labels: np.ndarray
    test_ids: np.ndarray
    oof: np.ndarray
    test: np.ndarray
    scores: dict[str, tuple[float, float]]
    tta: int = 0
    selection: Selection | None = None
    stack: Stack | None = None
    metric: str = "accuracy"
    metric_scores: dict[str, float] = field(default_factory=dict)

    @property
    def oof_accuracy(self) -> float:
        return self.scores[self.weighting][0]

    @property
    def oof_loss(self) -> float:
        return self.scores[self.weighting][1]

    def member_scores(self) -> list[dict[str, Any]]:
        """Per member: run, recipe, folds, weight, OOF accuracy/loss (with TTA when used) and test agreement (the
        share of test rows it decides as the ensemble does: the class, or every label of a multi-label task)."""
        voted = decisions(self.test, self.labels)
        counts = self.selection.counts if self.selection else (None,) * len(self.members)
        rows = []
        for member, weight, count in zip(self.members, self.weights, counts):
            accuracy, loss = softmax_scores(member.oof, self.labels)
            metric = get_metric(self.metric).score(self.labels, member.oof)
            plain = None if member.plain_oof is None else softmax_scores(member.plain_oof, self.labels)[0]
            rows.append(
                {
                    "run": str(member.run.root),
                    "recipe": member.summary.recipe,
                    "recipe_hash": member.summary.recipe_hash,
                    "folds": len(member.summary.folds),
                    "seed": member.summary.seed,
                    "weight": None if self.stack is not None else float(weight),
                    "chosen": count,
                    "tta": member.tta,
                    "tta_engine": member.tta_engine,
                    "oof_accuracy": accuracy,
                    "oof_loss": loss,
                    "oof_metric": metric,
                    "oof_accuracy_without_tta": plain,
                    "test_agreement": agreement(decisions(member.test, self.labels), voted),
                }
            )
        return rows


def decisions(proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """What ``proba`` decides per row: the argmax class, or for a multi-label task (2-D ``labels``) its 0/1 labels at
    probability ≥ 0.5."""
    return proba.argmax(axis=1) if labels.ndim == 1 else proba >= 0.5


def agreement(decided: np.ndarray, other: np.ndarray) -> float:
    """The share of rows where two :func:`decisions` agree (on every label of a multi-label row)."""
    return float(np.mean(np.all((decided == other).reshape(len(decided), -1), axis=1)))


def build_ensemble(
    references: Sequence[str | Path],
    weights: Sequence[float] | None = None,
    auto_weights: bool = False,
    tta: int = 0,
    data_dir: Path | str | None = None,
    callbacks: Iterable[Callback] = (),
    select: bool = False,
    stack: bool = False,
    metric: str | None = None,
    seed: int = 0,
    tta_precision: str = "float32",
) -> Ensemble:
    """Combine the runs: soft vote with equal, given (``weights``) or OOF-fitted (``auto_weights``) weights, Caruana
    greedy selection (``select``, optimising ``metric``: default :func:`~kit.ensemble._crossfit.default_metric` of
    the competition's) or a stacked logistic regression (``stack``); optionally over
    ``tta`` (at most 64) augmented copies of the images too (read from ``data_dir``, default the runs' own data
    folder), computed in ``tta_precision`` (float32 or int8, see :mod:`kit.engine._inference`).

    The equal soft vote is always scored beside the chosen method; fitted weights and selection are also scored
    cross-fitted (chosen on one half of the rows, scored on the other), and the stack out of fold. The ways are the
    combiners of :mod:`kit.ensemble._combiners`; these arguments pick one.
    """
    _check_arguments(references, weights, auto_weights, select, stack, tta, tta_precision)
    members = [load_member(reference) for reference in references]
    check_compatible(members)
    competition_metric = members[0].summary.metric
    weights_metric = competition_metric if metric is None else metric  # fitted weights: the metric itself
    metric = default_metric(competition_metric) if metric is None else metric  # selection: a smooth stand-in
    progress = as_callback_list(callbacks)
    combiner = choose_combiner(
        [member.run for member in members],
        weights,
        auto_weights,
        select,
        stack,
        metric,
        seed,
        on_stack_step=lambda done, total: progress.on_phase("stacking", done, total),
        weights_metric=weights_metric,
    )
    members = _with_tta(members, tta, data_dir, progress, tta_precision)
    ensemble = _combine(members, combiner, tta, competition_metric)
    progress.on_run_end()
    return ensemble


def _check_arguments(
    references: Sequence[str | Path],
    weights: Sequence[float] | None,
    auto_weights: bool,
    select: bool,
    stack: bool,
    tta: int,
    tta_precision: str,
) -> None:
    if not references:
        raise KitError("none given; name at least one run folder", argument="runs")
    check_one_way(weights, auto_weights, select, stack)
    if not 0 <= tta <= MAX_TTA:
        raise KitError.invalid("tta", f"0 (off) or a number of augmented copies up to {MAX_TTA}", tta)
    if tta_precision not in PRECISIONS:
        raise KitError.invalid("tta_precision", f"one of {', '.join(PRECISIONS)}", tta_precision)


def _with_tta(
    members: list[Member], tta: int, data_dir: Path | str | None, progress: CallbackList, tta_precision: str
) -> list[Member]:
    """The members, with ``tta`` augmented copies averaged in (and the run announced to ``progress``)."""
    if not tta:
        progress.on_run_begin("predict")
        return members
    progress.on_run_begin("predict", total=augmented_models(members))
    return augment_members(members, tta, data_dir, progress, tta_precision)


def _combine(members: Sequence[Member], combiner: Combiner, tta: int, metric: str) -> Ensemble:
    """Fit ``combiner`` on the members' OOF softmaxes and apply it to their test ones; the equal vote's score first,
    each method scored in the competition's ``metric`` too."""
    labels = members[0].labels
    oofs, tests = [member.oof for member in members], [member.test for member in members]
    equal = EqualWeights().fit(oofs, labels)
    scores = {**equal.scores(labels), **combiner.fit(oofs, labels).scores(labels)}
    scorer = get_metric(metric)
    oofs_by_method = {**equal.scored_oofs(), **combiner.scored_oofs()}
    metric_scores = {key: scorer.score(labels, proba) for key, proba in oofs_by_method.items()}
    test = combiner.combine(tests)
    return Ensemble(
        members=tuple(members),
        weights=equal.weights if combiner.weights is None else combiner.weights,  # a stack has none: shown as —
        weighting=combiner.weighting,
        labels=labels,
        test_ids=members[0].test_ids,
        oof=combiner.oof,
        test=test,
        scores=scores,
        tta=tta,
        metric=metric,
        metric_scores=metric_scores,
        **combiner.details(test),
    )
