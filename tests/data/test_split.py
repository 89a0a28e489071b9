"""kit.data.holdout_split, the one hold-out split of kit cv, kit distill and kit tune."""

from __future__ import annotations

import numpy as np
import pytest

from kit.data import holdout_split
from kit.errors import KitError


def test_holdout_is_stratified_disjoint_seeded_and_ascending():
    labels = np.repeat(np.arange(4), 25)
    kept, held = holdout_split(labels, 0.2, seed=0)
    assert len(held) == 20 and np.bincount(labels[held]).tolist() == [5, 5, 5, 5]
    assert not set(kept) & set(held) and len(kept) + len(held) == 100
    assert np.all(np.diff(kept) > 0) and np.all(np.diff(held) > 0)
    assert np.array_equal(holdout_split(labels, 0.2, seed=0)[1], held)
    assert not np.array_equal(holdout_split(labels, 0.2, seed=1)[1], held)


def test_no_share_holds_nothing_out():
    kept, held = holdout_split(np.zeros(7), 0.0, seed=3)
    assert kept.tolist() == list(range(7)) and held.size == 0


def test_a_share_the_classes_cannot_be_split_by_names_the_argument():
    with pytest.raises(KitError, match=r"^holdout: cannot hold out a stratified share of 0.01 from 100 rows"):
        holdout_split(np.repeat(np.arange(4), 25), 0.01, seed=0)
    with pytest.raises(KitError, match=r"^tune.holdout: cannot hold out"):
        holdout_split(np.repeat(np.arange(4), 25), 0.01, seed=0, argument="tune.holdout")
