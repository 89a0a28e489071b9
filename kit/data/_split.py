"""The one hold-out split: a seeded, stratified share of the labelled rows kept apart (from every fold by ``kit cv``,
for the student by ``kit distill``, for validation by ``kit tune``)."""

from __future__ import annotations

import numpy as np

from kit.errors import KitError


def holdout_split(
    labels: np.ndarray, share: float, seed: int, argument: str = "holdout"
) -> tuple[np.ndarray, np.ndarray]:
    """(rows kept, rows held out), each ascending: ``share`` of the rows, stratified by ``labels``, drawn with
    ``seed``; nothing is held out when ``share`` is 0. A share the classes cannot be split by is one line naming
    ``argument``."""
    rows = np.arange(len(labels))
    if not share:
        return rows, rows[:0]
    from sklearn.model_selection import train_test_split

    try:
        kept, held = train_test_split(rows, test_size=share, random_state=seed, stratify=labels)
    except ValueError as error:
        raise KitError(
            f"cannot hold out a stratified share of {share} from {len(labels)} rows ({error})", argument=argument
        ) from None
    return np.sort(kept), np.sort(held)
