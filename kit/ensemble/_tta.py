"""Test-time augmentation: each fold model's softmax averaged over its images and augmented copies of them, for its
out-of-fold rows and the test rows.

The first copies are the exact symmetries the recipe trains with (:func:`symmetric_views`: mirror flips and quarter
turns, for photos); the rest are made as training augments (:func:`kit.engine._pipeline.augmented_copy`): copy ``c``
of the test rows is the same bits for every fold model, and every call repeats them. A recipe without flips or turns
(the digits') gets random copies only, as before those keys existed. The models run through :mod:`kit.engine._inference`
(each compiled once, float32 or int8), and TensorFlow is imported only when a model runs. Progress goes through
:mod:`kit.utils._callbacks`: one ``on_phase("test-time augmentation", done, total)`` per fold model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kit.errors import KitError
from kit.utils import CallbackList

if TYPE_CHECKING:
    from kit.engine import Predictor
    from kit.ensemble._members import Member
    from kit.recipes import AugmentSpec

TTA_SEED = 0
PHASE = "test-time augmentation"
FOLD_ARRAYS = ("val_rows", "val_proba", "test_proba", "holdout_proba")  # what load_fold reads, checked first
VIEWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {  # the symmetries of a square on (rows, h, w, c), in order
    "flip_horizontal": lambda images: images[:, :, ::-1],
    "flip_vertical": lambda images: images[:, ::-1],
    "rotate90": lambda images: np.rot90(images, 1, axes=(1, 2)),  # counter-clockwise, as training turns
    "rotate180": lambda images: np.rot90(images, 2, axes=(1, 2)),
    "rotate270": lambda images: np.rot90(images, 3, axes=(1, 2)),
    "transpose": lambda images: np.swapaxes(images, 1, 2),
    "transverse": lambda images: np.rot90(np.swapaxes(images, 1, 2), 2, axes=(1, 2)),
}
GENERATORS = ("flip_horizontal", "flip_vertical", "rotate90")  # the [augment] keys that draw symmetries


def symmetric_views(spec: AugmentSpec) -> list[str]:
    """The names of :data:`VIEWS` that the recipe's flips and quarter turns reach (their compositions included), in
    the order of :data:`VIEWS`; none for a recipe without them. Each is exact: no pixel is resampled."""
    moves = [VIEWS[name] for name in GENERATORS if getattr(spec, name)]
    probe = np.arange(9).reshape(1, 3, 3, 1)
    reached, frontier = {probe.tobytes()}, [probe]
    while frontier:
        image = frontier.pop()
        for move in moves:
            moved = move(image)
            if moved.tobytes() not in reached:
                reached.add(moved.tobytes())
                frontier.append(moved)
    return [name for name, view in VIEWS.items() if np.ascontiguousarray(view(probe)).tobytes() in reached]


def augmented_softmax(predictor: Predictor, images: np.ndarray, spec: AugmentSpec, copies: int) -> np.ndarray:
    """The mean softmax of ``predictor`` over ``images`` and ``copies`` augmented copies of them: the recipe's
    :func:`symmetric_views` first (as many as ``copies`` allows), then copies drawn from its augmentation."""
    from kit.engine import augmented_copy

    views = symmetric_views(spec)[:copies]
    total = predictor(images)
    for name in views:
        total = total + predictor(np.ascontiguousarray(VIEWS[name](images)))
    for copy in range(copies - len(views)):
        total = total + predictor(augmented_copy(images, spec, TTA_SEED, copy))
    return (total / (copies + 1)).astype(np.float32)


def with_tta(
    member: Member,
    train_images: np.ndarray,
    test_images: np.ndarray,
    copies: int,
    on_model: Callable[[], None] | None = None,
    precision: str = "float32",
) -> Member:
    """The member with OOF and test softmaxes of its fold models averaged over ``copies`` augmented copies too.

    The recipe's own augmentation makes the copies; a recipe without augmentation keeps its softmaxes (and TensorFlow
    is not imported). ``on_model`` is called after each fold model; ``precision`` is how the models compute
    (float32 or int8, see :mod:`kit.engine._inference`); the member's ``tta_engine`` says what computed them.
    """
    if not member.recipe.augment.enabled:
        return member
    from kit.crossval import load_fold_models
    from kit.engine import PROBE_ROWS, compile_predictor

    folds = [score.fold for score in member.summary.folds]
    oof, test = np.zeros_like(member.oof), np.zeros_like(member.test)
    engines = []
    for fold in folds:
        folder = member.run.fold_dir(fold)
        member.summary.check_files(member.run.root, [folder / f"{name}.npy" for name in FOLD_ARRAYS])
        result = member.run.load_fold(fold)
        if result is None:
            raise KitError(f"{member.run.fold_dir(fold)}: no finished fold; test-time augmentation needs every fold")
        rows = result.val_rows
        models = load_fold_models(member.run, [fold])
        predictor = compile_predictor(models, probe=test_images[:PROBE_ROWS], precision=precision)
        engines.append(predictor.description)
        oof[rows] = augmented_softmax(predictor, train_images[rows], member.recipe.augment, copies)
        test += augmented_softmax(predictor, test_images, member.recipe.augment, copies) / len(folds)
        if on_model:
            on_model()
    engine = "; ".join(dict.fromkeys(engines))  # one entry unless folds compiled differently
    return replace(member, oof=oof, test=test, tta=copies, plain_oof=member.oof, tta_engine=engine)


def augmented_models(members: Sequence[Member]) -> int:
    """How many fold models test-time augmentation runs (those of runs whose recipe augments)."""
    return sum(len(member.summary.folds) for member in members if member.recipe.augment.enabled)


def augment_members(
    members: Sequence[Member],
    copies: int,
    data_dir: Path | str | None,
    progress: CallbackList,
    precision: str = "float32",
) -> list[Member]:
    """Every member with test-time augmentation, reading the images once (the runs share them)."""
    total = augmented_models(members)
    if not total:
        return list(members)
    train = members[0].run.images("train", data_dir).images
    test = members[0].run.images("test", data_dir).images
    done = 0
    progress.on_phase(PHASE, 0, total)

    def tick() -> None:
        nonlocal done
        done += 1
        progress.on_phase(PHASE, done, total)

    return [with_tta(member, train, test, copies, tick, precision) for member in members]
