"""The metrics a competition is scored by, as objects: a name, a direction, what they need (class labels, class
probabilities or a ranking of the classes), the targets they score and their scikit-learn implementation. ``kit cv``
(fold and OOF scores), ensemble weights, selection and stacking, and ``kit score`` all score through this one
registry, so a number means the same everywhere.

Two shapes of answers. A single-label target (``single``, ``binary``, ``ordinal``): ``truth`` holds one class index
per row and ``proba`` one probability row per answer, summing to 1 (a 1-D ``proba`` is the probability of class 1 of
a binary target, as Kaggle takes it). A ``multilabel`` target: ``truth`` is an ``(n, L)`` matrix of 0/1 and ``proba``
the ``(n, L)`` independent probabilities of each label; labels are the probabilities thresholded at 0.5 (``>=``).

Log loss is scikit-learn's (each row's probabilities divided by their sum, as Kaggle does) on probabilities clipped to
``[1e-15, 1]``, Kaggle's convention: a confident wrong answer costs at most ``-log(1e-15)`` ≈ 34.5. On two classes it
is the binary log loss of the probability of class 1; on a multi-label target, the mean over the labels of each
label's binary log loss. Accuracy of a multi-label target is exact-match (subset) accuracy, macro F1 the mean F1
over the labels present in the answers or the predictions. ROC AUC is scored on the probability of class 1 of a
binary target and as the mean one-vs-rest (or per-label) AUC otherwise, leaving out the columns whose answers are all
alike. QWK (quadratic weighted kappa) takes the class indices as ordered grades 0 … K-1. MAP@k (``map_at_1`` …
``map_at_20``) ranks the classes of each row by probability (ties by class index) and scores 1/rank of the true
class among the first k, or 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kit.errors import KitError

if TYPE_CHECKING:  # NumPy and scikit-learn load on first score: the spec, which names its metric, stays light
    import numpy as np

CLIP = 1e-15  # smallest probability a log loss takes (Kaggle's); the same for kit cv, kit predict and kit score
Target = Literal["single", "binary", "multilabel", "ordinal"]
TARGETS: tuple[Target, ...] = ("single", "binary", "multilabel", "ordinal")
MAP_K = range(1, 21)  # the cut-offs of MAP@k a metric name may give: map_at_1 … map_at_20
MAP_NAME = re.compile(r"map_at_([1-9][0-9]?)")
THRESHOLD = 0.5  # a label of a multi-label target is predicted where its probability is at least this
_ACCEPTS: dict[str, set[str]] = {  # the declared targets that score answers of each shape
    "single": {"single", "ordinal"},
    "binary": {"single", "binary", "ordinal"},
    "multilabel": {"multilabel"},
}


def _accuracy(truth: np.ndarray, labels: np.ndarray, classes: int) -> float:
    """The share of rows predicted exactly (every label right, for a multi-label target)."""
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(truth, labels))


def _macro_f1(truth: np.ndarray, labels: np.ndarray, classes: int) -> float:
    """The mean F1 over the classes (labels) that occur in the answers or the predictions (absent ones are left out;
    a multi-label target with none anywhere scores 1)."""
    import numpy as np
    from sklearn.metrics import f1_score

    if truth.ndim == 2:
        present = np.flatnonzero(truth.any(axis=0) | labels.any(axis=0))
        if not present.size:
            return 1.0
    else:
        present = np.union1d(truth, labels)
    return float(f1_score(truth, labels, labels=present, average="macro", zero_division=0))


def _micro_f1(truth: np.ndarray, labels: np.ndarray, classes: int) -> float:
    """F1 over every (row, class) decision pooled: accuracy for a single-label target."""
    from sklearn.metrics import f1_score

    return float(f1_score(truth, labels, average="micro", zero_division=0))


def _log_loss(truth: np.ndarray, proba: np.ndarray, classes: int) -> float:
    import numpy as np
    from sklearn.metrics import log_loss

    if truth.ndim == 2:  # each label a two-class softmax [1 - p, p], clipped as one
        proba = np.asarray(proba, dtype=np.float64)
        columns = [np.column_stack([1.0 - proba[:, j], proba[:, j]]) for j in range(classes)]
        return float(np.mean([_log_loss(truth[:, j], column, 2) for j, column in enumerate(columns)]))
    clipped = np.clip(np.asarray(proba, dtype=np.float64), CLIP, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)  # as Kaggle does, and so scikit-learn has nothing to warn about
    return float(log_loss(truth, clipped, labels=np.arange(classes)))


def _column_auc(name: str, truth: np.ndarray, proba: np.ndarray, classes: int) -> float:
    """The mean ROC AUC of the columns (the labels, or one class against the rest each) whose answers hold both 0
    and 1; one line naming ``name`` when none does."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    columns = truth if truth.ndim == 2 else (truth[:, None] == np.arange(classes)).astype(np.int64)
    defined = [j for j in range(classes) if columns[:, j].min() != columns[:, j].max()]
    if not defined:
        raise KitError(f"{name} is undefined: no label (class) has both a positive and a negative answer")
    return float(np.mean([roc_auc_score(columns[:, j], proba[:, j]) for j in defined]))


def _roc_auc(truth: np.ndarray, proba: np.ndarray, classes: int) -> float:
    """ROC AUC of the probability of class 1 (binary), else the mean one-vs-rest (per-label) AUC."""
    from sklearn.metrics import roc_auc_score

    if truth.ndim == 2 or classes > 2:
        return _column_auc("roc_auc", truth, proba, classes)
    if truth.min() == truth.max():
        raise KitError("roc_auc is undefined: every answer is the same class")
    return float(roc_auc_score(truth, proba[:, 1]))


def _mean_roc_auc(truth: np.ndarray, proba: np.ndarray, classes: int) -> float:
    return _column_auc("mean_roc_auc", truth, proba, classes)


def _qwk(truth: np.ndarray, labels: np.ndarray, classes: int) -> float:
    """Quadratic weighted kappa of grades 0 … classes-1 (distances counted on that whole scale, as Kaggle does);
    0 where it is undefined (every answer and prediction one grade)."""
    import warnings

    import numpy as np
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kappa = cohen_kappa_score(
            truth, labels, labels=np.arange(classes), weights="quadratic", replace_undefined_by=0.0
        )
    return float(kappa)


def _map_at_k(truth: np.ndarray, ranked: np.ndarray, classes: int) -> float:
    """The mean of 1/rank of the true class in each row's list of classes (best first), 0 where it is absent."""
    import numpy as np

    hits = ranked == truth[:, None]
    rank = hits.argmax(axis=1) + 1  # the first occurrence counts, as Kaggle's MAP@k
    return float(np.mean(np.where(hits.any(axis=1), 1.0 / rank, 0.0)))


def top_k(proba: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` most probable classes of each row, best first (ties by class index), as an ``(n, k)`` int array;
    -1 fills the slots beyond the number of classes."""
    import numpy as np

    ranked = np.argsort(-np.asarray(proba), axis=1, kind="stable")[:, :k]
    missing = k - ranked.shape[1]
    return np.pad(ranked, ((0, 0), (0, missing)), constant_values=-1) if missing > 0 else ranked


def target_of(truth: np.ndarray, classes: int) -> str:
    """The shape of the answers: ``multilabel`` (a 0/1 matrix), ``binary`` (two classes) or ``single``."""
    return "multilabel" if truth.ndim == 2 else "binary" if classes == 2 else "single"


@dataclass(frozen=True)
class Metric:
    """One metric: ``score(truth, proba)`` takes the answers and one probability row per answer (class labels are
    their argmax, or the labels at probability 0.5 and over, for a metric that needs labels; a ranking their ``k``
    most probable classes); ``better(a, b)`` says whether score ``a`` beats ``b``. ``targets`` are the kinds of
    competition it scores (:data:`TARGETS`) and ``k`` the cut-off of a ranking metric."""

    name: str
    greater_is_better: bool
    needs: Literal["labels", "probabilities", "ranking"]
    implementation: Callable[[np.ndarray, np.ndarray, int], float]
    targets: tuple[Target, ...] = ("single", "binary", "ordinal")
    k: int | None = None

    def supports(self, target: str) -> bool:
        """Whether it scores a competition whose target is ``target`` (one of :data:`TARGETS`)."""
        return target in self.targets

    def check(self, target: str) -> None:
        """Nothing if it scores ``target``; one line naming the metric otherwise."""
        if not self.supports(target):
            scored = ", ".join(self.targets)
            raise KitError(f"{self.name} does not score a {target} target (it scores {scored})", argument="metric")

    def _answers(self, truth: np.ndarray, rows: int, classes: int) -> np.ndarray:
        """The answers, checked against the predictions' shape and this metric's targets."""
        import numpy as np

        truth = np.asarray(truth)
        if truth.ndim not in (1, 2) or len(truth) != rows:
            raise KitError(f"{self.name}: {len(truth)} answers for {rows} predictions", argument="metric")
        target = target_of(truth, classes)
        if not _ACCEPTS[target] & set(self.targets):
            self.check(target)
        if target == "multilabel":
            if truth.shape[1] != classes or not np.isin(truth, (0, 1)).all():
                raise KitError(f"{self.name}: a multi-label answer must be {classes} columns of 0/1", argument="metric")
            truth = truth.astype(np.int64)
        return truth

    def score(self, truth: np.ndarray, proba: np.ndarray) -> float:
        import numpy as np

        proba = np.asarray(proba)
        if proba.ndim == 1:  # the probability of class 1 of a binary target
            proba = np.column_stack([1.0 - proba, proba])
        truth = self._answers(truth, len(proba), proba.shape[1])
        if self.needs == "probabilities":
            predicted = proba
        elif self.needs == "ranking":
            predicted = top_k(proba, self.k or 1)
        elif truth.ndim == 2:
            predicted = (proba >= THRESHOLD).astype(np.int64)
        else:
            predicted = proba.argmax(axis=1)
        return self.implementation(truth, predicted, proba.shape[1])

    def score_labels(self, truth: np.ndarray, labels: np.ndarray, classes: int) -> float:
        """The score of predicted labels (for a submission of labels): class indices, a 0/1 matrix for a multi-label
        target, or for a ranking metric an ``(n, k)`` int array of class indices best first (-1 for an empty slot;
        one index per row is a list of one); not for a metric that needs probabilities."""
        import numpy as np

        if self.needs == "probabilities":
            raise KitError(f"{self.name} needs class probabilities, got class labels", argument="metric")
        labels = np.asarray(labels)
        if self.needs == "ranking":
            labels = labels.reshape(-1, 1) if labels.ndim == 1 else labels[:, : self.k]
        return self.implementation(self._answers(truth, len(labels), classes), labels, classes)

    def better(self, a: float, b: float) -> bool:
        return a > b if self.greater_is_better else a < b

    def loss(self, truth: np.ndarray, proba: np.ndarray) -> float:
        """The score as a number to minimise (negated where greater is better), for optimisers."""
        value = self.score(truth, proba)
        return -value if self.greater_is_better else value


def _map_k(name: object) -> int | None:
    """The cut-off k of a name ``map_at_<k>`` with k in :data:`MAP_K`, else None."""
    match = MAP_NAME.fullmatch(name) if isinstance(name, str) else None
    return int(match[1]) if match and int(match[1]) in MAP_K else None


def map_metric(k: int) -> Metric:
    """MAP@k: the mean of 1/rank of the true class among each row's ``k`` best (Humpback Whale's MAP@5)."""
    return Metric(f"map_at_{k}", True, "ranking", _map_at_k, ("single", "binary"), k)


class _Registry(dict):
    """The metrics by name; any ``map_at_<k>`` resolves though only ``map_at_5`` is listed."""

    def __missing__(self, name: str) -> Metric:
        k = _map_k(name)
        if k is None:
            raise KeyError(name)
        return map_metric(k)


_EVERY: tuple[Target, ...] = ("single", "binary", "multilabel", "ordinal")
_AUC: tuple[Target, ...] = ("single", "binary", "multilabel")
METRICS: dict[str, Metric] = _Registry(
    {
        "accuracy": Metric("accuracy", True, "labels", _accuracy, _EVERY),
        "log_loss": Metric("log_loss", False, "probabilities", _log_loss, _EVERY),
        "macro_f1": Metric("macro_f1", True, "labels", _macro_f1, _EVERY),
        "micro_f1": Metric("micro_f1", True, "labels", _micro_f1, _EVERY),
        "roc_auc": Metric("roc_auc", True, "probabilities", _roc_auc, _AUC),
        "mean_roc_auc": Metric("mean_roc_auc", True, "probabilities", _mean_roc_auc, _AUC),
        "qwk": Metric("qwk", True, "labels", _qwk, ("ordinal",)),
        "map_at_5": map_metric(5),
    }
)
METRIC_NAMES = tuple(METRICS)  # the base names; map_at_5 stands for map_at_1 … map_at_20


def is_metric_name(name: object) -> bool:
    """Whether ``name`` names a metric: one of :data:`METRIC_NAMES` or any ``map_at_<k>``, k from 1 to 20."""
    return name in METRICS or _map_k(name) is not None


def _describe(names: tuple[str, ...]) -> str:
    shown = [f"map_at_K (K from {MAP_K[0]} to {MAP_K[-1]})" if _map_k(n) else n for n in names]
    return ", ".join(dict.fromkeys(shown))


def get_metric(name: str, argument: str = "metric", among: tuple[str, ...] = METRIC_NAMES) -> Metric:
    """The metric called ``name`` (one of ``among``, where a ``map_at_<k>`` in ``among`` admits every k from 1 to
    20); one line naming ``argument`` otherwise."""
    family = any(_map_k(n) for n in among)
    if name not in among and not (family and _map_k(name)):
        raise KitError.invalid(argument, f"one of {_describe(among)}", name)
    return METRICS[name]


def softmax_scores(proba: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy and log loss of predicted class probabilities (the pair every fold, run and ensemble reports)."""
    return METRICS["accuracy"].score(labels, proba), METRICS["log_loss"].score(labels, proba)
