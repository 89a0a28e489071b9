"""The metrics a competition is scored by, as objects: a name, a direction, what they need (class labels or class
probabilities) and their scikit-learn implementation. ``kit cv`` (fold and OOF scores), ensemble weights, selection
and stacking, and ``kit score`` all score through this one registry, so a number means the same everywhere.

Log loss is scikit-learn's (each row's probabilities divided by their sum, as Kaggle does) on probabilities clipped to
``[1e-15, 1]``, Kaggle's convention: a confident wrong answer costs at most ``-log(1e-15)`` ≈ 34.5.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kit.errors import KitError

if TYPE_CHECKING:  # NumPy and scikit-learn load on first score: the spec, which names its metric, stays light
    import numpy as np

CLIP = 1e-15  # smallest probability a log loss takes (Kaggle's); the same for kit cv, kit predict and kit score


def _accuracy(truth: np.ndarray, labels: np.ndarray, classes: int) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(truth, labels))


def _macro_f1(truth: np.ndarray, labels: np.ndarray, classes: int) -> float:
    """The mean F1 over the classes that occur in the answers or the predictions (absent ones are left out)."""
    import numpy as np
    from sklearn.metrics import f1_score

    present = np.union1d(truth, labels)
    return float(f1_score(truth, labels, labels=present, average="macro", zero_division=0))


def _log_loss(truth: np.ndarray, proba: np.ndarray, classes: int) -> float:
    import numpy as np
    from sklearn.metrics import log_loss

    clipped = np.clip(np.asarray(proba, dtype=np.float64), CLIP, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)  # as Kaggle does, and so scikit-learn has nothing to warn about
    return float(log_loss(truth, clipped, labels=np.arange(classes)))


@dataclass(frozen=True)
class Metric:
    """One metric: ``score(truth, proba)`` takes the true class indices and one probability row per answer (class
    labels are their argmax for a metric that needs labels); ``better(a, b)`` says whether score ``a`` beats ``b``."""

    name: str
    greater_is_better: bool
    needs: Literal["labels", "probabilities"]
    implementation: Callable[[np.ndarray, np.ndarray, int], float]

    def score(self, truth: np.ndarray, proba: np.ndarray) -> float:
        import numpy as np

        proba = np.asarray(proba)
        predicted = proba if self.needs == "probabilities" else proba.argmax(axis=1)
        return self.implementation(np.asarray(truth), predicted, proba.shape[1])

    def score_labels(self, truth: np.ndarray, labels: np.ndarray, classes: int) -> float:
        """The score of predicted class indices (for a submission of labels); only for a metric that needs labels."""
        if self.needs != "labels":
            raise KitError(f"{self.name} needs class probabilities, got class labels", argument="metric")
        return self.implementation(truth, labels, classes)

    def better(self, a: float, b: float) -> bool:
        return a > b if self.greater_is_better else a < b

    def loss(self, truth: np.ndarray, proba: np.ndarray) -> float:
        """The score as a number to minimise (negated where greater is better), for optimisers."""
        value = self.score(truth, proba)
        return -value if self.greater_is_better else value


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", True, "labels", _accuracy),
    "log_loss": Metric("log_loss", False, "probabilities", _log_loss),
    "macro_f1": Metric("macro_f1", True, "labels", _macro_f1),
}
METRIC_NAMES = tuple(METRICS)


def get_metric(name: str, argument: str = "metric", among: tuple[str, ...] = METRIC_NAMES) -> Metric:
    """The metric called ``name`` (one of ``among``); one line naming ``argument`` otherwise."""
    if name not in among:
        raise KitError.invalid(argument, f"one of {', '.join(among)}", name)
    return METRICS[name]


def softmax_scores(proba: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy and log loss of predicted class probabilities (the pair every fold, run and ensemble reports)."""
    return METRICS["accuracy"].score(labels, proba), METRICS["log_loss"].score(labels, proba)
