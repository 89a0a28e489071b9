"""The ways to combine the runs, behind one interface (as AutoGluon's greedy ensemble, where given and selected
weights are the same kind of thing): equal, given or fitted weights, greedy selection, and stacking.

A :class:`Combiner` makes its choice on the runs' OOF softmaxes with ``fit(oofs, labels)``, applies it to any rows'
softmaxes with ``combine(probas)`` (the test rows), and reports its scores: that of its combined OOF softmax under
``weighting`` and its honest one under ``honest`` — cross-fitted where the choice was made on the OOF rows it is
scored on (fitted weights, selection), out of fold for the stack, and the plain score where nothing was fitted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from kit.competitions import softmax_scores
from kit.crossval import RunFolder
from kit.ensemble._crossfit import cross_fitted_vote, objective
from kit.ensemble._members import (
    AUTO,
    CROSS_FITTED,
    EQUAL,
    GIVEN,
    SELECTED,
    SELECTED_HONEST,
    STACKED,
    normalise_weights,
    soft_vote,
)
from kit.ensemble._selection import Selection, select_runs
from kit.ensemble._stacking import MetaModel, fit_meta, shared_fold_rows
from kit.errors import KitError

FIT_GENERATIONS = 30


def fit_weights(oofs: Sequence[np.ndarray], labels: np.ndarray, seed: int = 0, metric: str = "accuracy") -> np.ndarray:
    """Weights on the simplex that optimise the OOF ``metric`` (accuracy by default), ties broken by the lower log
    loss (differential evolution).

    Accuracy is a step function of the weights, so a gradient-free search runs a fixed number of generations (about
    6 s for 5 runs of 42,000 rows); it starts from equal weights and keeps the best point found, so it never does
    worse than them on these rows.
    """
    runs = len(oofs)
    if runs == 1:
        return np.ones(1)
    stacked = np.stack(oofs)
    score = objective(metric, labels)

    def weights_score(raw: np.ndarray) -> float:
        weights = raw / raw.sum() if raw.sum() > 0 else np.full(runs, 1.0 / runs)
        return score(np.tensordot(weights, stacked, axes=1))

    from scipy.optimize import differential_evolution

    found = differential_evolution(
        weights_score, [(0.0, 1.0)] * runs, x0=np.ones(runs), seed=seed, maxiter=FIT_GENERATIONS, tol=0.0, polish=False
    )
    return normalise_weights(found.x, runs)


def cross_fitted(oofs: Sequence[np.ndarray], labels: np.ndarray, seed: int = 0, metric: str = "accuracy") -> np.ndarray:
    """OOF softmax of fitted weights where each random half of the rows is voted with weights fit on the other half.

    Scoring weights on the rows they were fit on flatters them; this is the honest estimate of what fitting gains.
    """
    voted, _ = cross_fitted_vote(
        oofs, labels, lambda fit_oofs, fit_labels: fit_weights(fit_oofs, fit_labels, seed, metric), seed
    )
    return voted


class Combiner:
    """One way to combine the runs: ``fit(oofs, labels)`` chooses on the OOF rows and returns the combiner,
    ``combine(probas)`` applies the choice to the runs' softmaxes of any rows, ``oof`` is the combined OOF softmax and
    ``scores(labels)`` the combiner's rows of the score table (``weighting`` first, then ``honest`` where it differs).

    The base class is a weighted soft vote: a subclass says how it chooses the weights (:meth:`choose`) and, where
    it chooses them on the OOF rows, how it scores them honestly (:meth:`honest_vote`).
    """

    weighting: ClassVar[str]
    honest: ClassVar[str]  # the scores key of the honest estimate; == weighting where nothing was fitted on OOF rows
    weights: np.ndarray | None = None  # one per run, summing to 1 (None: not a weighted vote)
    honest_oof: np.ndarray | None = None
    _oof: np.ndarray

    def fit(self, oofs: Sequence[np.ndarray], labels: np.ndarray) -> Combiner:
        self.weights = self.choose(oofs, labels)
        self._oof = soft_vote(oofs, self.weights)
        self.honest_oof = self.honest_vote(oofs, labels)
        return self

    def choose(self, oofs: Sequence[np.ndarray], labels: np.ndarray) -> np.ndarray:
        """The weights, one per run, summing to 1."""
        raise NotImplementedError

    def honest_vote(self, oofs: Sequence[np.ndarray], labels: np.ndarray) -> np.ndarray | None:
        """The cross-fitted OOF softmax, each row voted by weights chosen without it (None: nothing was chosen on
        the OOF rows, so the plain score is honest)."""
        return None

    def combine(self, probas: Sequence[np.ndarray]) -> np.ndarray:
        return soft_vote(probas, self.weights)

    @property
    def oof(self) -> np.ndarray:
        return self._oof

    def scored_oofs(self) -> dict[str, np.ndarray]:
        """The combined OOF softmax under ``weighting``, then the honest one under ``honest`` when it is another."""
        found = {self.weighting: self.oof}
        if self.honest_oof is not None:
            found[self.honest] = self.honest_oof
        return found

    def scores(self, labels: np.ndarray) -> dict[str, tuple[float, float]]:
        """(accuracy, log loss) of each of :meth:`scored_oofs`."""
        return {key: softmax_scores(proba, labels) for key, proba in self.scored_oofs().items()}

    def details(self, test: np.ndarray) -> dict[str, Any]:
        """The :class:`~kit.ensemble._combine.Ensemble` fields this way fills beyond weights and softmaxes (given
        the combined ``test`` softmax): ``selection`` or ``stack``; none for a plain weighted vote."""
        return {}


class EqualWeights(Combiner):
    """The plain soft vote: every run weighs the same."""

    weighting = honest = EQUAL

    def choose(self, oofs: Sequence[np.ndarray], labels: np.ndarray) -> np.ndarray:
        return np.full(len(oofs), 1.0 / len(oofs))


class GivenWeights(Combiner):
    """The soft vote with the caller's weights (normalised; checked against the number of runs)."""

    weighting = honest = GIVEN

    def __init__(self, weights: Sequence[float], runs: int) -> None:
        self.given = normalise_weights(weights, runs)

    def choose(self, oofs: Sequence[np.ndarray], labels: np.ndarray) -> np.ndarray:
        return self.given


class FittedWeights(Combiner):
    """The soft vote with the weights that optimise the OOF ``metric`` (:func:`fit_weights`; the competition's own
    by default), scored cross-fitted too."""

    weighting, honest = AUTO, CROSS_FITTED

    def __init__(self, seed: int = 0, metric: str = "accuracy") -> None:
        self.seed, self.metric = seed, metric

    def choose(self, oofs: Sequence[np.ndarray], labels: np.ndarray) -> np.ndarray:
        return fit_weights(oofs, labels, self.seed, self.metric)

    def honest_vote(self, oofs: Sequence[np.ndarray], labels: np.ndarray) -> np.ndarray:
        return cross_fitted(oofs, labels, self.seed, self.metric)


class GreedySelection(Combiner):
    """Caruana's greedy selection with replacement (:func:`select_runs`, optimising ``metric``): the counts are the
    weights, scored cross-fitted too."""

    weighting, honest = SELECTED, SELECTED_HONEST
    selection: Selection

    def __init__(self, metric: str = "log_loss", seed: int = 0) -> None:
        self.metric, self.seed = metric, seed

    def choose(self, oofs: Sequence[np.ndarray], labels: np.ndarray) -> np.ndarray:
        self.selection = select_runs(oofs, labels, metric=self.metric, seed=self.seed)
        return self.selection.weights

    def honest_vote(self, oofs: Sequence[np.ndarray], labels: np.ndarray) -> np.ndarray:
        return self.selection.cross_fitted  # computed by select_runs with the selection

    def details(self, test: np.ndarray) -> dict[str, Any]:
        return {"selection": self.selection}


class Stacked(Combiner):
    """A logistic-regression meta-model on the runs' log-softmaxes, cross-fitted on the first run's folds (its OOF
    softmax is out of fold, so already honest) and refit on every OOF row for :meth:`combine`. It has no weights."""

    weighting = honest = STACKED
    meta: MetaModel

    def __init__(self, runs: Sequence[RunFolder], on_phase: Callable[[int, int], None] | None = None) -> None:
        self.runs, self.on_phase = runs, on_phase

    def fit(self, oofs: Sequence[np.ndarray], labels: np.ndarray) -> Combiner:
        folds = shared_fold_rows(self.runs, len(labels))
        if self.on_phase:
            self.on_phase(0, len(folds) + 1)
        self.meta = fit_meta(oofs, labels, folds, on_step=self.on_phase)
        return self

    def combine(self, probas: Sequence[np.ndarray]) -> np.ndarray:
        return self.meta.predict(probas)

    @property
    def oof(self) -> np.ndarray:
        return self.meta.oof

    def details(self, test: np.ndarray) -> dict[str, Any]:
        return {"stack": self.meta.stack(test)}


def choose_combiner(
    runs: Sequence[RunFolder],
    weights: Sequence[float] | None = None,
    auto_weights: bool = False,
    select: bool = False,
    stack: bool = False,
    metric: str = "log_loss",
    seed: int = 0,
    on_stack_step: Callable[[int, int], None] | None = None,
    weights_metric: str = "accuracy",
) -> Combiner:
    """The one combiner the arguments name (equal weights when none does); they exclude each other. Selection
    optimises ``metric``, fitted weights ``weights_metric``."""
    check_one_way(weights, auto_weights, select, stack)
    if weights is not None:
        return GivenWeights(weights, len(runs))
    if auto_weights:
        return FittedWeights(seed, weights_metric)
    if select:
        return GreedySelection(metric, seed)
    if stack:
        return Stacked(runs, on_stack_step)
    return EqualWeights()


def check_one_way(
    weights: object, auto_weights: bool, select: bool, stack: bool, names: Mapping[str, str] | None = None
) -> None:
    """Fail with one line when more than one way to combine the runs is asked for; ``names`` words the arguments
    as a front end calls them (the command line's flags)."""
    asked = (("weights", weights is not None), ("auto_weights", auto_weights), ("select", select), ("stack", stack))
    chosen = [(names or {}).get(name, name) for name, on in asked if on]
    if len(chosen) > 1:
        raise KitError(f"{' and '.join(chosen)} exclude each other; pick one way to combine the runs")
