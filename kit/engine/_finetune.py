"""Fine-tuning a pretrained backbone: frozen for the first ``freeze_epochs`` epochs, then trained from a block on,
at ``lr_factor`` × the head's learning rate (discriminative rates).

- The phase switch is a Keras callback, :class:`BackbonePhases` (in the recipe's callbacks, so a fold's epoch
  checkpoint records its phase): at each epoch's start it sets the backbone's trainable layers for that epoch and,
  when they changed, has Keras trace the train step again. A frozen layer is non-trainable, so its BatchNorm runs in
  inference mode (Keras 3); unfrozen BatchNorm layers stay so unless ``train_batch_norm``.
- The rates: one optimizer, built once on every variable that ever trains (the backbone's first), whose class gains
  :class:`DiscriminativeRate`: the update of the first ``backbone_variables`` variables uses the learning rate (the
  schedule's, warm-up included) × ``backbone_lr_factor``, their decoupled weight decay too, and Adam's bias
  correction counts from the backbone's first trained step. Its slots, step and averages are saved with the model as
  before, so a fit killed in either phase resumes to the same bits.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import keras
from keras import layers, ops

from kit.engine._backbones import find_backbone
from kit.errors import KitError
from kit.recipes import BackboneSpec, Recipe

FROZEN, UNFROZEN = "frozen", "unfrozen"


def phase_at(spec: BackboneSpec, epoch: int) -> str:
    """The phase of 0-based ``epoch``: frozen for the first ``freeze_epochs``, unfrozen after."""
    return FROZEN if epoch < spec.freeze_epochs else UNFROZEN


def first_unfrozen(backbone: keras.Model, spec: BackboneSpec) -> int:
    """The index of the backbone's first layer that trains once unfrozen: the first named after the block
    ``unfreeze_from`` (for a KerasHub backbone: the first whose name starts with it, e.g. ``stack3`` of a ResNet), or
    the share ``unfreeze_from`` of its layers counted from the top."""
    count = len(backbone.layers)
    if not isinstance(spec.unfreeze_from, str):
        return count - round(spec.unfreeze_from * count)
    prefix = spec.info.layer_prefix + spec.unfreeze_from
    found = next((index for index, layer in enumerate(backbone.layers) if layer.name.startswith(prefix)), None)
    if found is None:
        names = [layer.name for layer in backbone.layers[1:]]  # a KerasHub backbone: its layer names are the blocks
        listed = ", ".join(names) if len(names) <= 8 else f"{', '.join(names[:6])}, …, {names[-1]}"
        shown = f" (its layers: {listed})" if spec.hub is not None and names else ""
        raise KitError(f"key model.backbone.unfreeze_from: {spec.name} has no layer named {prefix}…{shown}")
    return found


def set_phase(model: keras.Model, spec: BackboneSpec, phase: str) -> bool:
    """Make ``model``'s backbone trainable as ``phase`` has it; whether any weight's trainability changed (the train
    step must then be traced again)."""
    backbone = find_backbone(model)
    before = [variable.trainable for variable in model.weights]
    backbone.trainable = phase == UNFROZEN
    if phase == UNFROZEN:
        start = first_unfrozen(backbone, spec)
        for index, layer in enumerate(backbone.layers):
            if index < start or (isinstance(layer, layers.BatchNormalization) and not spec.trains_batch_norm):
                layer.trainable = False
    return before != [variable.trainable for variable in model.weights]


class DiscriminativeRate:
    """Optimizer mixin: the first ``backbone_variables`` variables it was built with (the backbone's) learn at
    ``backbone_lr_factor`` × its learning rate, weight decay included; the EMA, if any, ends on every variable it
    averaged, whatever the phase. Adam (and AdamW) count their bias correction for the backbone from its first
    trained step, ``backbone_start``, as a fresh optimizer would: counted from the optimizer's first step, the empty
    moments of a backbone unfrozen late would make its first hundreds of steps 2–6 times too large."""

    def __init__(
        self,
        *args: Any,
        backbone_lr_factor: float = 1.0,
        backbone_variables: int = 0,
        backbone_start: int = 0,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.backbone_lr_factor, self.backbone_variables = backbone_lr_factor, backbone_variables
        self.backbone_start = backbone_start

    def _in_backbone(self, variable: Any) -> bool:
        return self._get_variable_index(variable) < self.backbone_variables

    def update_step(self, gradient, variable, learning_rate):
        if self._in_backbone(variable):
            learning_rate = ops.multiply(learning_rate, self.backbone_lr_factor)
            if self.backbone_start and isinstance(self, keras.optimizers.Adam):  # AdamW is one too
                learning_rate = ops.multiply(learning_rate, self._late_correction())
        return super().update_step(gradient, variable, learning_rate)

    def _late_correction(self):
        """Adam's bias correction at step t − ``backbone_start`` over the one it applies, at step t."""
        step = ops.cast(self.iterations + 1, "float32")
        late = ops.maximum(step - self.backbone_start, 1.0)
        beta_1, beta_2 = ops.cast(self.beta_1, "float32"), ops.cast(self.beta_2, "float32")

        def correction(t):
            return ops.sqrt(1.0 - ops.power(beta_2, t)) / (1.0 - ops.power(beta_1, t))

        return correction(late) / correction(step)

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None or self.backbone_lr_factor == 1.0:
            return super()._apply_weight_decay(variables)
        super()._apply_weight_decay([variable for variable in variables if not self._in_backbone(variable)])
        for variable in variables:
            if self._in_backbone(variable) and self._use_weight_decay(variable):
                rate = ops.cast(self.learning_rate, variable.dtype) * self.backbone_lr_factor
                variable.assign_sub(variable * ops.cast(self.weight_decay, variable.dtype) * rate)
        return None

    def finalize_variable_values(self, var_list):
        super().finalize_variable_values(self._trainable_variables if self.built else var_list)

    def get_config(self):
        names = ("backbone_lr_factor", "backbone_variables", "backbone_start")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}


@cache
def discriminative(optimizer: type) -> type:
    """``optimizer`` with :class:`DiscriminativeRate`, registered so that a saved model's optimizer loads again."""
    rated = type(f"Discriminative{optimizer.__name__}", (DiscriminativeRate, optimizer), {})
    return keras.saving.register_keras_serializable("kit")(rated)


def prepare_fine_tuning(model: keras.Model, spec: BackboneSpec | None) -> keras.Model:
    """Ready a compiled model with a backbone for :class:`BackbonePhases`: every variable that ever trains trainable
    (so that the optimizer, built on the model's trainable variables, holds them all, the backbone's first) and the
    optimizer's class given the backbone's rate. A model without a backbone is left as it is."""
    if spec is None:
        return model
    set_phase(model, spec, UNFROZEN)
    backbone_variables = find_backbone(model).trainable_variables
    count = len(backbone_variables)
    if {id(v) for v in model.trainable_variables[:count]} != {id(v) for v in backbone_variables}:
        raise KitError("internal: the backbone's variables do not come first in the model")
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # a LossScaleOptimizer's inner one
    if optimizer.built:
        raise KitError("internal: prepare_fine_tuning needs a model whose optimizer is not built yet")
    optimizer.__class__ = discriminative(type(optimizer))
    optimizer.backbone_lr_factor, optimizer.backbone_variables = spec.lr_factor, count
    optimizer.backbone_start = 0  # set to its first trained step when training begins; saved with the model
    return model


class BackbonePhases(keras.callbacks.Callback):
    """Freeze, then unfreeze: at the start of each epoch the backbone takes that epoch's phase (:func:`phase_at`),
    and Keras traces the train step again when its trainable weights changed. ``phase`` (the last one set) is saved by
    the epoch checkpoint; a resumed fit sets it again at its first epoch, or at its end when nothing was left to
    train, so that the model is saved in the phase an uninterrupted fit ends in."""

    def __init__(self, spec: BackboneSpec):
        super().__init__()
        self.spec = spec
        self.phase: str | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        if not optimizer.built:  # built on every variable that ever trains, before any is frozen
            set_phase(self.model, self.spec, UNFROZEN)
            optimizer.build(self.model.trainable_variables)
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        inner.backbone_start = self.spec.freeze_epochs * int(self.params.get("steps") or 0)  # its first trained step

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.phase = phase_at(self.spec, epoch)
        if set_phase(self.model, self.spec, self.phase):
            self.model.make_train_function(force=True)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.phase is not None:
            set_phase(self.model, self.spec, self.phase)


def fine_tuning_callbacks(recipe: Recipe) -> list[keras.callbacks.Callback]:
    """The recipe's backbone phase switch, or nothing for a recipe without a backbone."""
    return [] if recipe.model.backbone is None else [BackbonePhases(recipe.model.backbone)]
