"""Test-time augmentation: each fold model's softmax averaged over augmented copies of its OOF and test images.

TensorFlow is imported only when a model runs. Progress goes through :mod:`kit.callbacks`: one
``on_phase("test-time augmentation", done, total)`` per fold model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kit.callbacks import CallbackList
from kit.errors import KitError

if TYPE_CHECKING:
    from kit.ensemble import Member

TTA_SEED = 0
TTA_BATCH = 256
PHASE = "test-time augmentation"


def augmented_softmax(
    model: Any, images: np.ndarray, augmenter: Any, copies: int, batch_size: int = TTA_BATCH
) -> np.ndarray:
    """The mean softmax of ``model`` over ``images`` and ``copies`` randomly augmented copies of them."""
    from kit.pipeline import evaluation_dataset

    classes = model.output_shape[-1]
    predictions = [model.predict(evaluation_dataset(images, None, classes, batch_size), verbose=0)]
    augmented = evaluation_dataset(images, None, classes, batch_size).map(
        lambda batch: augmenter(batch, training=True)  # sequential: the random draws come in a fixed order
    )
    predictions += [model.predict(augmented, verbose=0) for _ in range(copies)]
    return np.mean(predictions, axis=0)


def with_tta(
    member: Member,
    train_images: np.ndarray,
    test_images: np.ndarray,
    copies: int,
    on_model: Callable[[], None] | None = None,
) -> Member:
    """The member with OOF and test softmaxes of its fold models averaged over ``copies`` augmented copies too.

    The recipe's own augmentation makes the copies; a recipe without augmentation keeps its softmaxes (and TensorFlow
    is not imported). ``on_model`` is called after each fold model.
    """
    if not member.recipe.augment.enabled:
        return member
    from kit.runtime import import_tensorflow

    import_tensorflow()
    import keras

    from kit.pipeline import make_augmenter

    augmenter = make_augmenter(member.recipe.augment, TTA_SEED)
    folds = [score["fold"] for score in member.summary["folds"]]
    oof, test = np.zeros_like(member.oof), np.zeros_like(member.test)
    keras.utils.set_random_seed(TTA_SEED)
    for fold in folds:
        result, path = member.run.load_fold(fold), member.run.fold_dir(fold) / "model.keras"
        if result is None or not path.is_file():
            raise KitError(f"{path}: not found; test-time augmentation needs the fold models of run {member.run.root}")
        model = keras.saving.load_model(path)
        oof[result.val_rows] = augmented_softmax(model, train_images[result.val_rows], augmenter, copies)
        test += augmented_softmax(model, test_images, augmenter, copies) / len(folds)
        if on_model:
            on_model()
    return replace(member, oof=oof, test=test, tta=copies, plain_oof=member.oof)


def augmented_models(members: Sequence[Member]) -> int:
    """How many fold models test-time augmentation runs (those of runs whose recipe augments)."""
    return sum(len(member.summary["folds"]) for member in members if member.recipe.augment.enabled)


def augment_members(
    members: Sequence[Member], copies: int, data_dir: Path | str | None, progress: CallbackList
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

    return [with_tta(member, train, test, copies, tick) for member in members]
