"""One compiled model per thread, handed out again from fold to fold with a fresh model's numbers.

Keras traces a model's train, test and predict steps into TensorFlow graphs the first time it fits, evaluates or
predicts, and traces them again for every new model: 1.2–1.6 s of a ~5 s demo fold of ``turbo`` on a 2-core CPU
(docs/speed-notes.md). :func:`fold_model` builds the fold's model as before (so every
random draw happens as it did), then, when this thread has already traced a model of the same recipe, copies the
new model's variables — weights, batch-norm statistics, dropout seeds, optimizer slots, step and learning rate — into
that traced one and returns it. Training it gives the same numbers as training the new model, without the tracing.
"""

from __future__ import annotations

import threading
from typing import Any

from kit.recipes import Recipe

_LOCAL = threading.local()  # per thread (folds trained in threads never share a model): .key and .model


def model_key(
    recipe: Recipe, input_shape: tuple[int, ...], classes: int, train_rows: int, *, multilabel: bool = False
) -> tuple:
    """What a traced model depends on: the recipe's name (saved in the model), its model and train sections (layers,
    optimizer, schedule, precision), the input shape, the classes, the steps per epoch (the schedule's length) and
    whether its outputs are sigmoids (multi-label: another loss and metric)."""
    from kit.engine._pipeline import steps

    return (
        recipe.name,
        repr(recipe.model),
        repr(recipe.train),
        tuple(input_shape),
        classes,
        steps(train_rows, recipe.train.batch_size),
        multilabel,
    )


def _state(model: Any) -> list[Any]:
    """Every variable a fit reads: the model's (weights, statistics, seed generators) and its optimizer's (built)."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return [*model.variables, *model.optimizer.variables]


def _copy_state(source: Any, target: Any) -> bool:
    """Assign ``source``'s variables to ``target``'s; False (nothing assigned) where the two do not line up."""
    new, kept = _state(source), _state(target)
    if len(new) != len(kept) or any(tuple(a.shape) != tuple(b.shape) or a.dtype != b.dtype for a, b in zip(new, kept)):
        return False
    for fresh, old in zip(new, kept):
        old.assign(fresh.value)
    target.reset_metrics()
    return True


def fold_model(
    recipe: Recipe,
    input_shape: tuple[int, ...],
    classes: int,
    train_rows: int,
    seed: int | None = None,
    *,
    multilabel: bool = False,
) -> Any:
    """A compiled model for one fold whose every variable equals that of ``build_model(recipe, …, seed=seed,
    multilabel=multilabel)`` built now: the thread's traced model of the same key with the new model's state copied
    in, else the new model (kept for the next fold in place of any other)."""
    from kit.engine._models import build_model

    built = build_model(recipe, input_shape, classes, train_rows=train_rows, seed=seed, multilabel=multilabel)
    key = model_key(recipe, input_shape, classes, train_rows, multilabel=multilabel)
    kept = getattr(_LOCAL, "model", None)
    if kept is not None and _LOCAL.key == key and _copy_state(built, kept):
        return kept
    _LOCAL.key, _LOCAL.model = key, built
    return built


def release() -> None:
    """Forget this thread's kept model (its graphs and variables are freed with the last reference)."""
    _LOCAL.key, _LOCAL.model = None, None
