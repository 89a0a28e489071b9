"""Ensembles of fold runs: members, their compatibility, soft voting, weights, and the names of the combinations.

Each run's folds are averaged first (its ``test.npy``; its ``oof.npy`` already holds one held-out prediction per
row), then the runs are combined, so a weight means the same on the OOF rows and on the test rows. With equal fold
counts equal weights give the plain mean over every fold model of every run. The result is an
:class:`kit.ensemble.Ensemble` with the combined OOF and test softmaxes and the OOF score of every combination tried,
honest ones included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kit.crossval import RunFolder, Summary, load_run
from kit.errors import KitError
from kit.recipes import Recipe, parse_recipe

EQUAL, GIVEN, AUTO, CROSS_FITTED = "equal", "given", "auto, in-sample", "auto, cross-fitted"
SELECTED, SELECTED_HONEST = "selected, in-sample", "selected, cross-fitted"
STACKED = "stack, out of fold"


@dataclass(frozen=True, eq=False)
class Member:
    """One run of an ensemble: its folder, summary and softmaxes (OOF rows × classes, test rows × classes; a
    multi-label run's are independent label probabilities, which every weighted vote averages label by label).

    With test-time augmentation ``oof`` and ``test`` average ``tta`` augmented copies in, and ``plain_oof`` keeps the
    run's own ``oof.npy``.
    """

    run: RunFolder
    summary: Summary
    oof: np.ndarray
    test: np.ndarray
    tta: int = 0
    plain_oof: np.ndarray | None = field(default=None, repr=False)
    tta_engine: str | None = None  # what computed the TTA softmaxes, e.g. "tflite float32"
    labels: np.ndarray | None = field(default=None, repr=False)  # the run's labels.npy, read checked
    test_ids: np.ndarray | None = field(default=None, repr=False)  # its test_ids.npy, read checked

    @property
    def name(self) -> str:
        return self.run.root.name

    @property
    def recipe(self) -> Recipe:
        """The resolved recipe the run was trained with, from its summary."""
        try:
            return parse_recipe(self.summary.recipe_content, self.summary.recipe)
        except KitError as error:
            raise KitError(f"{self.run.summary_path}: recipe_content: {error}") from None


def load_member(reference: str | Path) -> Member:
    """A finished run with test predictions, by path or by name under ``runs/``."""
    result = load_run(reference)  # the one checked reader: identity, shapes, finite and normalised softmaxes
    if result.test is None:
        raise KitError(
            f"run {result.path}: no test.npy (its data folder had no test file); train it again with test data"
        )
    return Member(result.run, result.summary, result.oof, result.test, labels=result.labels, test_ids=result.test_ids)


def check_compatible(members: Sequence[Member]) -> None:
    """Fail with one line naming the first run that differs from the first one in competition, train or test rows."""
    first = members[0]
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
            if getattr(member.summary, key) != getattr(first.summary, key):
                raise KitError(
                    f"{where}: its {what} ({getattr(member.summary, key)}) differ from run {first.run.root} "
                    f"({getattr(first.summary, key)}); ensemble only runs of the same competition and data"
                )
        if member.oof.shape != first.oof.shape or member.test.shape != first.test.shape:
            raise KitError(
                f"{where}: softmax shapes {member.oof.shape} / {member.test.shape} differ from run {first.run.root} "
                f"({first.oof.shape} / {first.test.shape}); train it again on the same data"
            )
        if not np.array_equal(member.test_ids, first.test_ids):
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
        raise KitError(f"{len(weights)} weights for {runs} runs; give one per run, e.g. {example}", argument="weights")
    if not np.all(np.isfinite(weights)) or (weights < 0).any() or weights.sum() <= 0:
        raise KitError.invalid("weights", "non-negative numbers, not all zero", ",".join(f"{w:g}" for w in weights))
    return weights / weights.sum()


def parse_weights(text: str, runs: int) -> np.ndarray:
    """``"2,1"`` → normalised weights ``[2/3, 1/3]``, failing with one line on anything else."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise KitError.invalid("weights", "comma-separated numbers, one per run, e.g. 2,1", text) from None
    return normalise_weights(values, runs)
