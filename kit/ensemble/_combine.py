"""Combining runs (:func:`build_ensemble`): soft voting with equal, given or fitted weights, greedy selection or
stacking, with TTA copies of the members where asked. The result is an :class:`Ensemble` with the combined OOF and
test softmaxes and the OOF score of every combination tried, honest ones included."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kit.engine import PRECISIONS
from kit.ensemble._members import (
    AUTO,
    CROSS_FITTED,
    EQUAL,
    GIVEN,
    SELECTED,
    SELECTED_HONEST,
    STACKED,
    Member,
    check_compatible,
    cross_fitted,
    fit_weights,
    load_member,
    normalise_weights,
    soft_vote,
)
from kit.ensemble._tta import augment_members, augmented_models
from kit.errors import KitError
from kit.utils import Callback, as_callback_list, load_array, softmax_scores

if TYPE_CHECKING:
    from kit.ensemble._selection import Selection
    from kit.ensemble._stacking import Stack


@dataclass(frozen=True, eq=False)
class Ensemble:
    """Members, their normalised weights, the combined OOF and test softmaxes, and the OOF scores of each method.

    ``weighting`` names the method whose softmaxes ``oof`` and ``test`` hold (a key of ``scores``, whose values are
    (accuracy, log loss)); ``selection`` / ``stack`` hold the details of greedy selection or stacking when used.
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

    @property
    def oof_accuracy(self) -> float:
        return self.scores[self.weighting][0]

    @property
    def oof_loss(self) -> float:
        return self.scores[self.weighting][1]

    def member_scores(self) -> list[dict[str, Any]]:
        """Per member: run, recipe, folds, weight, OOF accuracy/loss (with TTA when used) and test agreement."""
        voted = self.test.argmax(axis=1)
        counts = self.selection.counts if self.selection else (None,) * len(self.members)
        rows = []
        for member, weight, count in zip(self.members, self.weights, counts):
            accuracy, loss = softmax_scores(member.oof, self.labels)
            plain = None if member.plain_oof is None else softmax_scores(member.plain_oof, self.labels)[0]
            rows.append(
                {
                    "run": str(member.run.root),
                    "recipe": member.summary["recipe"],
                    "recipe_hash": member.summary["recipe_hash"],
                    "folds": len(member.summary["folds"]),
                    "seed": member.summary["seed"],
                    "weight": None if self.stack is not None else float(weight),
                    "chosen": count,
                    "tta": member.tta,
                    "tta_engine": member.tta_engine,
                    "oof_accuracy": accuracy,
                    "oof_loss": loss,
                    "oof_accuracy_without_tta": plain,
                    "test_agreement": float(np.mean(member.test.argmax(axis=1) == voted)),
                }
            )
        return rows


def build_ensemble(
    references: Sequence[str | Path],
    weights: Sequence[float] | None = None,
    auto_weights: bool = False,
    tta: int = 0,
    data_dir: Path | str | None = None,
    callbacks: Iterable[Callback] = (),
    select: bool = False,
    stack: bool = False,
    metric: str = "log_loss",
    seed: int = 0,
    tta_precision: str = "float32",
) -> Ensemble:
    """Combine the runs: soft vote with equal, given (``weights``) or OOF-fitted (``auto_weights``) weights, Caruana
    greedy selection (``select``, optimising ``metric``) or a stacked logistic regression (``stack``); optionally over
    ``tta`` augmented copies of the images too (read from ``data_dir``, default the runs' own data folder), computed
    in ``tta_precision`` (float32 or int8, see :mod:`kit.engine._inference`).

    The equal soft vote is always scored beside the chosen method; fitted weights and selection are also scored
    cross-fitted (chosen on one half of the rows, scored on the other), and the stack out of fold.
    """
    if not references:
        raise KitError("runs: none given; name at least one run folder")
    chosen_methods = [
        name
        for name, on in (
            ("weights", weights is not None),
            ("auto_weights", auto_weights),
            ("select", select),
            ("stack", stack),
        )
        if on
    ]
    if len(chosen_methods) > 1:
        raise KitError(f"{' and '.join(chosen_methods)} exclude each other; pick one way to combine the runs")
    if tta < 0:
        raise KitError(f"tta: must be 0 (off) or a number of augmented copies, got {tta}")
    if tta_precision not in PRECISIONS:
        raise KitError(f"tta_precision: {tta_precision!r} is not one of {', '.join(PRECISIONS)}")
    members = [load_member(reference) for reference in references]
    check_compatible(members)
    given = None if weights is None else normalise_weights(weights, len(members))
    progress = as_callback_list(callbacks)
    if tta:
        progress.on_run_begin("predict", total=augmented_models(members))
        members = augment_members(members, tta, data_dir, progress, tta_precision)
    else:
        progress.on_run_begin("predict")
    labels = load_array(members[0].run.root / "labels.npy")
    oofs, tests = [member.oof for member in members], [member.test for member in members]
    equal = np.full(len(members), 1.0 / len(members))
    scores = {EQUAL: softmax_scores(soft_vote(oofs, equal), labels)}
    chosen, weighting, selection, stacked = equal, EQUAL, None, None
    if given is not None:
        chosen, weighting = given, GIVEN
        scores[GIVEN] = softmax_scores(soft_vote(oofs, given), labels)
    if auto_weights:
        chosen, weighting = fit_weights(oofs, labels, seed), AUTO
        scores[AUTO] = softmax_scores(soft_vote(oofs, chosen), labels)
        scores[CROSS_FITTED] = softmax_scores(cross_fitted(oofs, labels, seed), labels)
    if select:
        from kit.ensemble._selection import select_runs

        selection = select_runs(oofs, labels, metric=metric, seed=seed)
        chosen, weighting = selection.weights, SELECTED
        scores[SELECTED] = softmax_scores(soft_vote(oofs, chosen), labels)
        scores[SELECTED_HONEST] = softmax_scores(selection.cross_fitted, labels)
    if stack:
        from kit.ensemble._stacking import fit_stack, shared_fold_rows

        folds = shared_fold_rows([member.run for member in members], len(labels))
        progress.on_phase("stacking", 0, len(folds) + 1)
        stacked = fit_stack(
            oofs, tests, labels, folds, on_step=lambda done, total: progress.on_phase("stacking", done, total)
        )
        weighting = STACKED
        scores[STACKED] = softmax_scores(stacked.oof, labels)
    progress.on_run_end()
    return Ensemble(
        members=tuple(members),
        weights=chosen,
        weighting=weighting,
        labels=labels,
        test_ids=load_array(members[0].run.root / "test_ids.npy"),
        oof=stacked.oof if stacked else soft_vote(oofs, chosen),
        test=stacked.test if stacked else soft_vote(tests, chosen),
        scores=scores,
        tta=tta,
        selection=selection,
        stack=stacked,
    )
