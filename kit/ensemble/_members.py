"""Ensembles of fold runs: members, soft voting with equal, given or fitted weights, greedy selection or stacking.

Each run's folds are averaged first (its ``test.npy``; its ``oof.npy`` already holds one held-out prediction per
row), then the runs are combined, so a weight means the same on the OOF rows and on the test rows. With equal fold
counts equal weights give the plain mean over every fold model of every run. The result is an :class:`Ensemble`
with the combined OOF and test softmaxes and the OOF score of every combination tried, honest ones included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kit.crossval._results import load_run
from kit.crossval._rundir import RunFolder, load_array
from kit.engine._inference import PRECISIONS
from kit.errors import KitError
from kit.recipes._load import Recipe, parse_recipe
from kit.utils._callbacks import Callback, as_callback_list
from kit.utils._runtime import softmax_scores

if TYPE_CHECKING:
    from kit.ensemble._selection import Selection
    from kit.ensemble._stacking import Stack

FIT_GENERATIONS = 30
EQUAL, GIVEN, AUTO, CROSS_FITTED = "equal", "given", "auto, in-sample", "auto, cross-fitted"
SELECTED, SELECTED_HONEST = "selected, in-sample", "selected, cross-fitted"
STACKED = "stack, out of fold"


@dataclass(frozen=True, eq=False)
class Member:
    """One run of an ensemble: its folder, summary and softmaxes (OOF rows × classes, test rows × classes).

    With test-time augmentation ``oof`` and ``test`` average ``tta`` augmented copies in, and ``plain_oof`` keeps the
    run's own ``oof.npy``.
    """

    run: RunFolder
    summary: dict[str, Any]
    oof: np.ndarray
    test: np.ndarray
    tta: int = 0
    plain_oof: np.ndarray | None = field(default=None, repr=False)
    tta_engine: str | None = None  # what computed the TTA softmaxes, e.g. "tflite float32"

    @property
    def name(self) -> str:
        return self.run.root.name

    @property
    def recipe(self) -> Recipe:
        """The resolved recipe the run was trained with, from its summary."""
        try:
            return parse_recipe(self.summary["recipe_content"], self.summary["recipe"])
        except KitError as error:
            raise KitError(f"run {self.run.root}: summary.json recipe_content: {error}") from None


def load_member(reference: str | Path) -> Member:
    """A finished run with test predictions, by path or by name under ``runs/``."""
    result = load_run(reference)  # the one checked reader: identity, shapes, finite and normalised softmaxes
    if result.test is None:
        raise KitError(
            f"run {result.path}: no test.npy (its data folder had no test file); train it again with test data"
        )
    return Member(result.run, result.summary, result.oof, result.test)


def check_compatible(members: Sequence[Member]) -> None:
    """Fail with one line naming the first run that differs from the first one in competition, train or test rows."""
    first = members[0]
    first_ids = load_array(first.run.root / "test_ids.npy")
    seen = {first.run.root.resolve()}
    for member in members[1:]:
        where = f"run {member.run.root}"
        if member.run.root.resolve() in seen:
            raise KitError(f"{where}: given twice; list each run once and weight it instead")
        seen.add(member.run.root.resolve())
        for key, what in (
            ("competition", "competition"),
            ("train_fingerprint", "training rows"),
            ("test_fingerprint", "test rows"),
        ):
            if member.summary[key] != first.summary[key]:
                raise KitError(
                    f"{where}: its {what} ({member.summary[key]}) differ from run {first.run.root} "
                    f"({first.summary[key]}); ensemble only runs of the same competition and data"
                )
        if member.oof.shape != first.oof.shape or member.test.shape != first.test.shape:
            raise KitError(
                f"{where}: softmax shapes {member.oof.shape} / {member.test.shape} differ from run {first.run.root} "
                f"({first.oof.shape} / {first.test.shape}); train it again on the same data"
            )
        if not np.array_equal(load_array(member.run.root / "test_ids.npy"), first_ids):
            raise KitError(
                f"{where}: its test ids differ from run {first.run.root}; ensemble only runs of the same test data"
            )


def soft_vote(probas: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """The weighted mean of class-probability arrays (equal weights when ``weights`` is None)."""
    return np.average(np.stack(probas), axis=0, weights=weights)


def normalise_weights(weights: Sequence[float], runs: int) -> np.ndarray:
    """Weights scaled to sum to 1, one non-negative finite number per run."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (runs,):
        example = ",".join(["1"] * runs)
        raise KitError(f"weights: {len(weights)} weights for {runs} runs; give one per run, e.g. {example}")
    if not np.all(np.isfinite(weights)) or (weights < 0).any() or weights.sum() <= 0:
        raise KitError(f"weights: {','.join(f'{w:g}' for w in weights)} must be non-negative numbers, not all zero")
    return weights / weights.sum()


def parse_weights(text: str, runs: int) -> np.ndarray:
    """``"2,1"`` → normalised weights ``[2/3, 1/3]``, failing with one line on anything else."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise KitError(f"weights {text!r}: expected comma-separated numbers, one per run, e.g. 2,1") from None
    return normalise_weights(values, runs)


def fit_weights(oofs: Sequence[np.ndarray], labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Weights on the simplex that maximise OOF accuracy, ties broken by the lower log loss (differential evolution).

    Accuracy is a step function of the weights, so a gradient-free search runs a fixed number of generations (about
    6 s for 5 runs of 42,000 rows); it starts from equal weights and keeps the best point found, so it never does
    worse than them on these rows.
    """
    runs = len(oofs)
    if runs == 1:
        return np.ones(1)
    stacked = np.stack(oofs)
    tie = 1.0 / (20 * len(labels))  # the clipped log loss stays below 16.2, so this term is worth less than one row

    def objective(raw: np.ndarray) -> float:
        weights = raw / raw.sum() if raw.sum() > 0 else np.full(runs, 1.0 / runs)
        accuracy, loss = softmax_scores(np.tensordot(weights, stacked, axes=1), labels)
        return -accuracy + tie * loss

    from scipy.optimize import differential_evolution

    found = differential_evolution(
        objective, [(0.0, 1.0)] * runs, x0=np.ones(runs), seed=seed, maxiter=FIT_GENERATIONS, tol=0.0, polish=False
    )
    return normalise_weights(found.x, runs)


def cross_fitted(oofs: Sequence[np.ndarray], labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """OOF softmax of fitted weights where each random half of the rows is voted with weights fit on the other half.

    Scoring weights on the rows they were fit on flatters them; this is the honest estimate of what fitting gains.
    """
    voted = np.zeros_like(oofs[0], dtype=np.float64)
    halves = np.array_split(np.random.default_rng(seed).permutation(len(labels)), 2)
    for fit_rows, score_rows in (halves, halves[::-1]):
        weights = fit_weights([oof[fit_rows] for oof in oofs], labels[fit_rows], seed)
        voted[score_rows] = soft_vote([oof[score_rows] for oof in oofs], weights)
    return voted


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
        from kit.ensemble._tta import augment_members, augmented_models

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
