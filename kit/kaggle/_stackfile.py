"""A stack's meta-model as data (``stack.npz``): the coefficients, intercepts and classes of its logistic
regressions, so a kernel applies the very meta-model ``kit predict --stack`` fitted without pickling it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kit.errors import KitError


def stack_arrays(meta: Any) -> dict[str, np.ndarray]:
    """The arrays of a fitted :class:`kit.ensemble._stacking.MetaModel`: one logistic regression, or one per label
    of a multi-label task."""
    models = meta.model if isinstance(meta.model, list) else [meta.model]
    arrays = {"c": np.asarray(meta.c, dtype=np.float64), "per_label": np.asarray(isinstance(meta.model, list))}
    for index, model in enumerate(models):
        arrays[f"coef_{index}"] = np.asarray(model.coef_, dtype=np.float64)
        arrays[f"intercept_{index}"] = np.asarray(model.intercept_, dtype=np.float64)
        arrays[f"classes_{index}"] = np.asarray(model.classes_, dtype=np.int64)
    arrays["models"] = np.asarray(len(models))
    return arrays


def regression(coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, c: float) -> Any:
    """A logistic regression with these fitted parameters, as scikit-learn would have fitted it."""
    from sklearn.linear_model import LogisticRegression

    from kit.ensemble._stacking import MAX_ITER, SOLVER

    model = LogisticRegression(C=c, solver=SOLVER, max_iter=MAX_ITER)
    model.coef_, model.intercept_, model.classes_ = coef, intercept, classes
    model.n_features_in_ = coef.shape[1]
    model.n_iter_ = np.zeros(1, dtype=np.int32)
    return model


def load_stack(path: Path, classes: int) -> Any:
    """The meta-model saved in ``path`` for runs of ``classes`` classes (labels), ready to ``predict`` their
    softmaxes; one line naming the file when it is not one."""
    from kit.ensemble._stacking import MetaModel

    try:
        with np.load(path, allow_pickle=False) as arrays:
            count, c = int(arrays["models"]), float(arrays["c"])
            models = [
                regression(arrays[f"coef_{k}"], arrays[f"intercept_{k}"], arrays[f"classes_{k}"], c)
                for k in range(count)
            ]
            per_label = bool(arrays["per_label"])
    except (OSError, KeyError, ValueError) as error:
        raise KitError(f"{path}: not a stack kit saved ({error})") from None
    model = models if per_label else models[0]
    return MetaModel(oof=np.zeros((0, classes)), folds=0, c=c, fold_cs=(), model=model)
