"""The recipe format as pydantic models: every table, key, type and bound a recipe may hold, in one place.

Each table is a frozen model that forbids unknown keys; numbers are strict (``"3"`` is not 3, ``true`` is not 1) and
floats finite; ``false`` clears an optional setting, as TOML has no null (see :mod:`kit.recipes._types`). Errors become
kit's one-line form in :mod:`kit.recipes._errors`; :mod:`kit.recipes._jsonschema` writes the same rules as JSON Schema.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from kit.recipes._backbone import BackboneSpec
from kit.recipes._schedules import ConstantSchedule, Schedule
from kit.recipes._types import Bool, Float, Int, Spec, Str, either, field_problem, one_or_per_conv, spec

Fraction = Annotated[Float, Field(ge=0.0, le=0.95)]  # dropout rates
Epochs = Annotated[Int, Field(ge=0, le=10_000)]

BatchNorm = Literal["before_activation", "after_activation"]
Padding = Literal["same", "valid"]
PER_CONV = ("filters", "kernel", "strides", "padding")
Monitor = Literal["val_loss", "val_accuracy", "loss", "accuracy"]  # what kit's fit logs, which Keras can judge
MAX_PARAMETERS = 200_000_000  # far above any CNN for these images; a typo such as units = 1000000000 stops at once


@spec
class ConvBlock(Spec):
    """``convs`` convolutions (each optionally batch-normalised), then optional pooling and dropout.

    ``filters``, ``kernel``, ``strides`` and ``padding`` take one value for every conv or a list with one per conv.
    ``batch_norm`` puts a BatchNormalization after each conv: ``"before_activation"`` (conv without bias → BN →
    activation) or ``"after_activation"`` (conv with activation → BN).
    """

    MISSING: ClassVar[dict[str, str]] = {"filters": "each conv block needs its filters, e.g. filters = 32"}

    filters: one_or_per_conv(Annotated[Int, Field(ge=1, le=4096)], "number")
    convs: Int = Field(1, ge=1, le=64)
    kernel: one_or_per_conv(Annotated[Int, Field(ge=1, le=64)], "number") = 3
    strides: one_or_per_conv(Annotated[Int, Field(ge=1, le=64)], "number") = 1
    padding: one_or_per_conv(Padding, "string") = "same"
    batch_norm: BatchNorm | None = None
    pool: Literal["max", "avg", "none"] = "max"
    dropout: Fraction = 0.0

    @model_validator(mode="after")
    def _one_value_per_conv(self) -> ConvBlock:
        for name in PER_CONV:
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != self.convs:
                message = f"{len(value)} values for {self.convs} convs; give one value or one per conv"
                raise field_problem(name, message)
        return self

    def conv_layout(self) -> list[tuple[int, int, int, str]]:
        """(filters, kernel, stride, padding) of each convolution, in order."""
        settings = [getattr(self, name) for name in PER_CONV]
        return [
            tuple(value[index] if isinstance(value, tuple) else value for value in settings)
            for index in range(self.convs)
        ]


@spec
class DenseLayer(Spec):
    """A fully connected hidden layer, optionally batch-normalised (as in a conv block), then optional dropout."""

    MISSING: ClassVar[dict[str, str]] = {"units": "each dense layer needs its units, e.g. units = 128"}

    units: Int = Field(ge=1, le=65_536)
    batch_norm: BatchNorm | None = None
    dropout: Fraction = 0.0


def layer_parameters(inputs: int, outputs: int, batch_norm: str | None, bias: bool = True) -> int:
    """Keras' parameter count of a layer with ``inputs`` weights per output, its bias and its batch norm's 4 vectors."""
    with_bias = bias and batch_norm != "before_activation"
    return inputs * outputs + (outputs if with_bias else 0) + (4 * outputs if batch_norm else 0)


@spec
class ModelSpec(Spec):
    """The network: conv blocks, a flatten or global-pooling head, dense layers, then a softmax output.

    ``head_dropout`` drops head features before the dense layers; ``output_batch_norm`` batch-normalises the output
    logits (a Dense without bias, then BN, then softmax); ``batch_norm_momentum`` is Keras' (PyTorch's 0.1 is 0.9).
    A ``[model.backbone]`` (a pretrained network, :class:`~kit.recipes._backbone.BackboneSpec`) takes the place of
    the conv blocks, the head and its dropout; the dense layers and the output follow it.
    """

    MISSING: ClassVar[dict[str, str]] = {
        "blocks": "give the conv blocks as [[model.blocks]] tables (blocks = [] for none), or a [model.backbone]"
    }

    blocks: tuple[ConvBlock, ...] = Field((), max_length=64)
    dense: tuple[DenseLayer, ...] = Field((), max_length=64)
    activation: Literal["relu", "elu", "gelu", "swish", "leaky_relu"] = "relu"
    head: Literal["flatten", "global_avg", "global_max"] = "flatten"
    head_dropout: Fraction = 0.0
    output_batch_norm: Bool = False
    batch_norm_momentum: Float = Field(0.99, gt=0.0, le=1.0)
    backbone: BackboneSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _blocks_unless_backbone(cls, data: Any) -> Any:
        given = (data.kwargs or {}) if hasattr(data, "kwargs") else data  # Python's arguments (ArgsKwargs), or a table
        if isinstance(given, dict) and "blocks" not in given and given.get("backbone") in (None, False):
            raise field_problem("blocks", f"missing; {cls.MISSING['blocks']}")
        return data

    @model_validator(mode="after")
    def _backbone_replaces_the_convs(self) -> ModelSpec:
        if self.backbone is None:
            return self
        for key, set_here, instead in (
            ("blocks", bool(self.blocks), "remove the conv blocks"),
            ("head", self.head != "flatten", "set model.backbone.pooling instead"),
            ("head_dropout", bool(self.head_dropout), "set model.backbone.dropout instead"),
        ):
            if set_here:
                raise field_problem(key, f"a backbone takes its place (model.backbone); {instead}")
        return self

    @model_validator(mode="after")
    def _not_too_large(self) -> ModelSpec:
        smallest = self.parameter_count(channels=1, head_area=1, classes=2)  # on the smallest possible images
        if smallest > MAX_PARAMETERS:
            message = (
                f"{smallest:,} parameters even on the smallest images, more than the {MAX_PARAMETERS:,} kit allows; "
                "use fewer filters, units or layers"
            )
            raise field_problem("", message)
        return self

    def parameter_count(self, channels: int, head_area: int, classes: int) -> int:
        """Keras' ``count_params()`` of the network for images with ``channels`` channels whose last feature map has
        ``head_area`` = height × width pixels, with ``classes`` outputs (batch norms count their moving statistics)."""
        total = 0 if self.backbone is None else self.backbone.info.parameters
        if self.backbone is not None:
            channels, head_area = self.backbone.info.features, 1
        for block in self.blocks:
            for filters, kernel, _, _ in block.conv_layout():
                total += layer_parameters(kernel * kernel * channels, filters, block.batch_norm)
                channels = filters
        features = channels * (head_area if self.head == "flatten" else 1)
        for dense in self.dense:
            total += layer_parameters(features, dense.units, dense.batch_norm)
            features = dense.units
        output_norm = "before_activation" if self.output_batch_norm else None
        return total + layer_parameters(features, classes, output_norm)


@spec
class SnapshotsSpec(Spec):
    """Snapshot ensembles (Huang et al. 2017): ``train.epochs`` split into ``count`` equal cycles (2 to 20; epochs
    must be a multiple of it), each cosine-annealed per step from ``learning_rate`` to ``learning_rate ×
    final_factor`` and then restarted (SGDR, Loshchilov & Hutter); the model at the end of every cycle predicts the
    validation, test and hold-out rows, and the fold's predictions are the mean of those ``count`` softmaxes. The
    snapshots set the learning rate: ``train.schedule`` stays ``constant`` and neither EarlyStopping nor
    ReduceLROnPlateau may be on; ``train.snapshots = false`` switches snapshots off.
    """

    MISSING: ClassVar[dict[str, str]] = {"count": "give the number of snapshots per fold, e.g. count = 3"}

    count: Int = Field(ge=2, le=20)
    final_factor: Float = Field(0.0, ge=0.0, le=1.0)


@spec
class TrainSpec(Spec):
    """Optimiser, loss, schedule, numeric precision and the length of training.

    ``weight_decay`` is Keras' decoupled weight decay (any optimizer; ``None`` keeps the optimizer's default, 0.004 for
    adamw), never applied to biases or batch-norm scales; ``ema`` keeps an exponential moving average of the weights
    with that momentum and ends training on it; ``precision`` is the Keras dtype policy of the layers (the softmax stays
    float32; ``"auto"``: mixed_bfloat16 on a CPU with native bfloat16 (AVX-512 BF16 or AMX), float32 elsewhere);
    ``jit_compile`` is Keras' XLA switch; ``deterministic = false`` lets TensorFlow pick its fastest, possibly
    non-deterministic kernels (and Keras compile with XLA): reruns then differ in the last digits. ``seed`` (default
    ``cv.seed``) seeds weights and augmentation only (``seed × 1000 + fold``): other members on the same folds."""

    optimizer: Literal["adam", "adamw", "rmsprop", "sgd", "nadam"] = "adam"
    learning_rate: Float = Field(0.001, gt=0.0, le=10.0)
    schedule: Schedule = ConstantSchedule()
    weight_decay: Float | None = Field(None, ge=0.0, le=1.0)
    ema: Float | None = Field(None, gt=0.0, le=0.99999)
    loss: Literal["categorical_crossentropy"] = "categorical_crossentropy"
    label_smoothing: Float = Field(0.0, ge=0.0, le=0.5)
    batch_size: Int = Field(32, ge=1, le=65_536)
    epochs: Int = Field(30, ge=1, le=10_000)
    precision: Literal["float32", "mixed_bfloat16", "mixed_float16", "auto"] = "float32"
    jit_compile: either(bool=Bool, string=Literal["auto"]) = "auto"
    deterministic: Bool = True
    snapshots: SnapshotsSpec | None = None
    seed: Int | None = Field(None, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _snapshots_fit(self) -> TrainSpec:
        if self.snapshots is None:
            return self
        count = self.snapshots.count
        if self.epochs % count:
            message = f"{count} snapshots need epochs a multiple of {count}, got train.epochs = {self.epochs}"
            raise field_problem("snapshots.count", f"{message}; change train.epochs or count")
        if self.schedule.kind != "constant":
            message = f"sets the learning rate (cosine restarts), so train.schedule.kind = {self.schedule.kind!r}"
            raise field_problem("snapshots", f"{message} cannot; remove train.schedule or set train.snapshots = false")
        return self


@spec
class CVSpec(Spec):
    """Stratified K-fold settings (fold seeds are ``seed × 1000 + fold``, so the seed stays below a million)."""

    folds: Int = Field(5, ge=2, le=100)
    seed: Int = Field(0, ge=0, le=1_000_000)


@spec
class AugmentSpec(Spec):
    """Random on-the-fly augmentation, drawn per image: the affine set (``rotation`` in degrees, ``zoom`` and shifts as
    fractions of the image, ``fill_mode`` where it reaches past the image) and the photo set, all off by default.

    ``flip_horizontal``/``flip_vertical`` mirror half the images; ``rotate90`` turns each by a random multiple of 90°
    (square images only); ``crop`` is a random resized crop covering that share of the area at least (from ``crop``
    to 1, aspect ratio 3/4 to 4/3, resampled to the image size; composed with the affine set into one resample);
    ``brightness``, ``contrast`` and ``saturation`` scale by a factor from 1 − x to 1 + x and ``hue`` turns the hue
    by up to ± x of the circle, as torchvision's ColorJitter (applied in that order, clipped to the pixel range).
    Saturation and hue change nothing on greyscale images (a grey pixel has neither); a 4th (alpha) channel is kept.
    ``elastic`` (α, pixels; 0 is off) moves pixels by uniform(−1, 1) noise smoothed by a Gaussian of ``elastic_sigma``
    pixels, times α (Simard et al. 2003: 34 and 4 on 28×28 digits), after the affine set and crop, before the rest."""

    rotation: Float = Field(0.0, ge=0.0, le=180.0)
    zoom: Float = Field(0.0, ge=0.0, le=0.9)
    width_shift: Float = Field(0.0, ge=0.0, le=0.9)
    height_shift: Float = Field(0.0, ge=0.0, le=0.9)
    fill_mode: Literal["constant", "nearest", "reflect", "wrap"] = "constant"
    flip_horizontal: Bool = False
    flip_vertical: Bool = False
    rotate90: Bool = False
    crop: Float | None = Field(None, ge=0.05, le=1.0)
    brightness: Float = Field(0.0, ge=0.0, le=1.0)
    contrast: Float = Field(0.0, ge=0.0, le=1.0)
    saturation: Float = Field(0.0, ge=0.0, le=1.0)
    hue: Float = Field(0.0, ge=0.0, le=0.5)
    elastic: Float = Field(0.0, ge=0.0, le=100.0)
    elastic_sigma: Float = Field(4.0, gt=0.0, le=50.0)

    @property
    def enabled(self) -> bool:
        return self.affine or self.photo or bool(self.elastic)

    @property
    def affine(self) -> bool:
        """Whether the affine set (rotation, zoom, shifts) is on."""
        return any((self.rotation, self.zoom, self.width_shift, self.height_shift))

    @property
    def photo(self) -> bool:
        """Whether any of the photo set (flips, 90° turns, crops, colour jitter) is on."""
        return any((self.flip_horizontal, self.flip_vertical, self.rotate90, self.crop is not None, *self.colour))

    @property
    def colour(self) -> tuple[float, float, float, float]:
        """(brightness, contrast, saturation, hue)."""
        return self.brightness, self.contrast, self.saturation, self.hue

    def image_problem(self, input_shape: tuple[int, ...]) -> str | None:
        """Why these settings cannot augment images of ``input_shape`` (height, width, …), or None."""
        height, width = input_shape[:2]
        if self.rotate90 and height != width:
            fix = "set rotate90 = false or make the images square"
            return f"key augment.rotate90: turning by 90° needs square images, got {height}×{width}; {fix}"
        return None


@spec
class EarlyStoppingSpec(Spec):
    """Arguments of ``keras.callbacks.EarlyStopping``; ``monitor`` is one of the metrics kit's training logs."""

    monitor: Monitor = "val_loss"
    min_delta: Float = Field(0.0, ge=0.0, le=1e6)
    patience: Epochs = 0
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best_weights: Bool = False
    start_from_epoch: Epochs = 0


@spec
class ReduceLROnPlateauSpec(Spec):
    """Arguments of ``keras.callbacks.ReduceLROnPlateau``; ``monitor`` is one of the metrics kit's training logs."""

    monitor: Monitor = "val_loss"
    factor: Float = Field(0.1, gt=0.0, lt=1.0)
    patience: Epochs = 10
    mode: Literal["auto", "min", "max"] = "auto"
    min_delta: Float = Field(0.0001, ge=0.0, le=1e6)
    cooldown: Epochs = 0
    min_lr: Float = Field(0.0, ge=0.0, le=10.0)


@spec
class CallbacksSpec(Spec):
    """Optional Keras callbacks; ``false`` in a recipe switches off one that a parent recipe set."""

    early_stopping: EarlyStoppingSpec | None = None
    reduce_lr_on_plateau: ReduceLROnPlateauSpec | None = None


@spec
class RecipeTable(Spec):
    """A CNN variant: architecture, training, CV, augmentation and callbacks, plus an optional tuning space."""

    MISSING: ClassVar[dict[str, str]] = {
        "model": 'a recipe needs its network, e.g. [[model.blocks]] filters = 32, or extends = "base" to start from one'
    }

    model: ModelSpec
    description: Str = ""
    train: TrainSpec = TrainSpec()
    cv: CVSpec = CVSpec()
    augment: AugmentSpec = AugmentSpec()
    callbacks: CallbacksSpec = CallbacksSpec()
    tune: dict[Str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _schedule_owns_the_rate(self) -> RecipeTable:
        check_schedule_owns_the_rate(self.train, self.callbacks)
        return self


def check_schedule_owns_the_rate(train: TrainSpec, callbacks: CallbacksSpec) -> None:
    """A schedule other than ``constant`` sets the learning rate every step: ReduceLROnPlateau cannot lower it;
    snapshots run every cycle to its end: neither EarlyStopping nor ReduceLROnPlateau may stop or lower one."""
    for name in ("early_stopping", "reduce_lr_on_plateau"):
        if train.snapshots is not None and getattr(callbacks, name) is not None:
            raise field_problem(
                f"callbacks.{name}",
                f"cannot be combined with train.snapshots (each cycle runs to its end); "
                f"set {name} = false or train.snapshots = false",
            )
    if train.schedule.kind != "constant" and callbacks.reduce_lr_on_plateau:
        raise field_problem(
            "callbacks.reduce_lr_on_plateau",
            f"cannot lower a learning rate that train.schedule.kind = {train.schedule.kind!r} sets; "
            "set reduce_lr_on_plateau = false or kind = 'constant'",
        )
