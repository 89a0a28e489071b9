"""``kit auto``'s pseudo-label round: how confident the vote must be for a test row to become a training row, judged
on the out-of-fold rows instead of a fixed probability.

A fixed 0.99 means nothing for members trained with label smoothing (their largest probability stays near
1 − ε + ε/K, 0.91 for ε = 0.1 and 10 classes): on the demo digits it let one test row through, and that row alone
made a last training batch of one image, whose batch-norm statistics cost the member two points of accuracy. So the
threshold is the lowest vote confidence at which the vote's own OOF rows are at least 99.5 % right (at least 100 of
them, so the estimate means something); the test rows at or above it become pseudo-labels, trimmed (least confident
first) so no fold's training part ends in a batch under a quarter of the batch size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TARGET_ACCURACY = 0.995  # the vote's OOF rows at or above the threshold are at least this right
MIN_CALIBRATION = 100  # OOF rows at or above the threshold needed to trust their accuracy
MIN_SHARE = 0.01  # fewer confident test rows than this share (or than one) skip the round
MULTILABEL_THRESHOLD = 0.99  # multi-label votes: every label at least this sure, as kit predict --pseudo


@dataclass(frozen=True)
class PseudoPlan:
    """The threshold to pseudo-label with (None: skip the round), how many test rows it takes, and why."""

    threshold: float | None
    rows: int
    why: str


def fold_train_sizes(rows: int, folds: int) -> set[int]:
    """The sizes of the folds' training parts of ``rows`` rows in ``folds`` stratified folds (they differ by one)."""
    return {rows - rows // folds, rows - math.ceil(rows / folds)}


def _fits_batches(count: int, sizes: set[int], batch_size: int) -> bool:
    return all((size + count) % batch_size in (0, *range(max(1, batch_size // 4), batch_size)) for size in sizes)


def plan_pseudo(members: Sequence[Any], batch_size: int, folds: int) -> PseudoPlan:
    """The pseudo-label plan for the equal vote of ``members`` (loaded, :func:`kit.ensemble.load_member`) feeding
    a member trained with ``batch_size`` on ``folds`` folds."""
    from kit.ensemble import confident_rows, soft_vote

    labels = members[0].labels
    test = soft_vote([member.test for member in members])  # the vote kit cv's own pseudo_rows selects from
    if labels.ndim == 2:
        sure, _, _ = confident_rows(test, MULTILABEL_THRESHOLD, multilabel=True)
        return PseudoPlan(MULTILABEL_THRESHOLD, len(sure), f"multi-label: every label ≥ {MULTILABEL_THRESHOLD}")
    oof = soft_vote([member.oof for member in members])
    confidence = oof.max(axis=1)
    order = np.argsort(-confidence, kind="stable")
    right = np.cumsum(oof.argmax(axis=1)[order] == labels[order])
    counted = np.arange(1, len(order) + 1)
    usable = np.flatnonzero((right >= TARGET_ACCURACY * counted) & (counted >= MIN_CALIBRATION))
    if not len(usable):
        return PseudoPlan(
            None, 0, f"no vote confidence at which {MIN_CALIBRATION}+ OOF rows are {TARGET_ACCURACY:.1%} right"
        )
    last = int(usable.max())
    threshold = float(confidence[order][last])
    calibration = (
        f"the vote's OOF rows at ≥ {threshold:.4f} are {right[last] / counted[last]:.1%} right ({counted[last]} rows)"
    )
    ranked = np.sort(test.max(axis=1))[::-1]
    count = int(np.sum(ranked >= threshold))
    sizes = fold_train_sizes(len(labels), folds)
    while count > 0 and (
        not _fits_batches(count, sizes, batch_size) or (count < len(ranked) and ranked[count - 1] == ranked[count])
    ):
        count -= 1  # the least confident go first: no tiny last batch, no tie cut in two
    if count < max(1, MIN_SHARE * len(ranked)):
        return PseudoPlan(None, count, f"only {count} of {len(ranked)} test rows at vote confidence ≥ {threshold:.4f}")
    low = ranked[count] if count < len(ranked) else ranked[count - 1] * (1 - 1e-6)
    cut = float((ranked[count - 1] + low) / 2)  # midway: float rounding of the vote cannot move a row across
    why = f"{count} of {len(ranked)} test rows at vote confidence ≥ {cut:.4f}; {calibration}"
    return PseudoPlan(cut, count, why)
