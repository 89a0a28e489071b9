"""Greedy ensemble selection (Caruana et al. 2004): runs added one at a time, with replacement, to the soft vote that
most improves the OOF metric; the chosen counts are the weights. Scored honestly by cross-fitting.

As in Caruana's paper and AutoGluon, the search runs a fixed number of rounds and keeps the best prefix, so it never
scores worse on these rows than the best single run. Because the choice is made on the OOF rows it is then scored
on, :func:`select_runs` also reports a cross-fitted softmax: the rows are split in two halves, runs are selected on
each half and vote the other one (:func:`kit.ensemble._crossfit.cross_fitted_vote`, as fitted weights are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kit.ensemble._crossfit import cross_fitted_vote, objective
from kit.errors import KitError

ROUNDS = 25
TOLERANCE = 1e-12


def greedy_counts(
    oofs: Sequence[np.ndarray], labels: np.ndarray, metric: str = "log_loss", rounds: int = ROUNDS
) -> tuple[np.ndarray, list[float]]:
    """How often each run is chosen (the best-scoring prefix of ``rounds`` greedy additions) and the score after
    each round. Ties go to the earlier run, and to the shorter prefix."""
    if rounds < 1:
        raise KitError.invalid("rounds", "at least 1", rounds)
    score = objective(metric, labels)
    stacked = np.stack(oofs).astype(np.float64)
    total = np.zeros_like(stacked[0])
    counts = np.zeros(len(oofs), dtype=np.int64)
    path: list[float] = []
    best_counts, best = counts.copy(), np.inf
    for step in range(1, rounds + 1):
        candidates = [score((total + proba) / step) for proba in stacked]
        pick = int(np.argmin(candidates))
        counts[pick] += 1
        total += stacked[pick]
        path.append(float(candidates[pick]))
        if candidates[pick] < best - TOLERANCE:  # a real gain, not rounding (B+B scores as B)
            best, best_counts = candidates[pick], counts.copy()
    return best_counts, path


@dataclass(frozen=True, eq=False)
class Selection:
    """The runs chosen by greedy selection: ``counts`` per run (weights = counts / total), the metric after each
    round on all rows, and the honest ``cross_fitted`` OOF softmax (each half voted by the runs chosen on the other).
    """

    counts: tuple[int, ...]
    metric: str
    rounds: int
    path: tuple[float, ...]
    half_counts: tuple[tuple[int, ...], tuple[int, ...]]
    cross_fitted: np.ndarray = field(repr=False)

    @property
    def weights(self) -> np.ndarray:
        counts = np.asarray(self.counts, dtype=np.float64)
        return counts / counts.sum()

    @property
    def chosen(self) -> tuple[int, ...]:
        """Indices of the runs chosen at least once."""
        return tuple(index for index, count in enumerate(self.counts) if count)


def select_runs(
    oofs: Sequence[np.ndarray], labels: np.ndarray, metric: str = "log_loss", rounds: int = ROUNDS, seed: int = 0
) -> Selection:
    """Greedy selection with replacement over the runs' OOF softmaxes, with its cross-fitted OOF softmax."""
    if not oofs:
        raise KitError("none given; name at least one run folder", argument="runs")
    counts, path = greedy_counts(oofs, labels, metric, rounds)
    voted, half_counts = cross_fitted_vote(
        oofs, labels, lambda fit_oofs, fit_labels: greedy_counts(fit_oofs, fit_labels, metric, rounds)[0], seed
    )
    return Selection(
        counts=_ints(counts),
        metric=metric,
        rounds=rounds,
        path=tuple(path),
        half_counts=(_ints(half_counts[0]), _ints(half_counts[1])),
        cross_fitted=voted,
    )


def _ints(counts: np.ndarray) -> tuple[int, ...]:
    return tuple(int(count) for count in counts)
