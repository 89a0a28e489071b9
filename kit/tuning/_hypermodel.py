"""A recipe as a KerasTuner HyperModel: a trial's values become recipe overrides, and the model, input pipeline and
callbacks are built by the same code as a ``kit cv`` fold (``build_model``, ``training_dataset``,
``build_callbacks``)."""

from __future__ import annotations

import time

import keras
import keras_tuner as kt

from kit.data import ImageSet
from kit.engine import build_callbacks, build_model, fit_on_pipeline
from kit.recipes import Recipe
from kit.tuning._space import SearchSpace


class RecipeHyperModel(kt.HyperModel):
    """The recipe as a KerasTuner HyperModel: a trial's values become recipe overrides, then ``build_model``."""

    def __init__(self, recipe: Recipe, space: SearchSpace, input_shape: tuple[int, ...], classes: int, train_rows: int):
        super().__init__(name=recipe.name)
        self.recipe, self.space = recipe, space
        self.input_shape, self.classes, self.train_rows = input_shape, classes, train_rows

    def trial_recipe(self, hp: kt.HyperParameters) -> Recipe:
        """The recipe with the trial's values: declares the space on ``hp`` and applies its values as overrides."""
        return self.recipe.with_overrides(self.space.declare(hp))

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        keras.utils.set_random_seed(self.recipe.cv.seed)
        return build_model(self.trial_recipe(hp), self.input_shape, self.classes, train_rows=self.train_rows)

    def fit(
        self,
        hp: kt.HyperParameters,
        model: keras.Model,
        train: ImageSet,
        val: ImageSet,
        callbacks: list[keras.callbacks.Callback] = (),
        epochs: int | None = None,
        initial_epoch: int = 0,
        verbose: int = 0,
    ) -> keras.callbacks.History:
        """Train with the trial recipe's augmentation, batch size and callbacks; score on ``val``.

        The history also gets ``epochs`` (trained in all) and ``seconds``, so the oracle records them with the score.
        """
        recipe = self.trial_recipe(hp)
        batch, seed = recipe.train.batch_size, recipe.cv.seed
        epochs = epochs or recipe.train.epochs
        started = time.perf_counter()
        history = fit_on_pipeline(
            model,
            (train.images, train.labels),
            (val.images, val.labels),
            self.classes,
            batch,
            recipe.augment,
            seed,
            epochs,
            [*build_callbacks(recipe), *callbacks],
            initial_epoch,
            verbose,
        )
        trained = len(history.epoch)
        history.history["epochs"] = [float(initial_epoch + trained)] * trained
        history.history["seconds"] = [round(time.perf_counter() - started, 2)] * trained
        return history
