"""Pretrained backbones as recipe keys: the registry of the Keras applications kit builds, the ``[model.backbone]``
table, and where its weights come from — all checked without TensorFlow, so that a recipe fails at load (a name, a
block) or before training (a missing weights file, images too small) with one line.

The engine (:mod:`kit.engine._backbones`) builds ``keras.applications.<name>`` from this one registry.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Discriminator, Field, StringConstraints, Tag, model_validator

from kit.recipes._hubpreset import (
    DOWNLOAD,
    HUB_PATTERN,
    HUB_WEIGHTS,
    check_preset,
    hub_target,
    is_handle,
    preset_parameters,
)
from kit.recipes._hubpreset import weights_problem as hub_weights_problem
from kit.recipes._types import Bool, Float, Int, Spec, Str, either, field_problem, spec

IMAGENET = "imagenet"
RUN_PREFIX = "run:"
RUNS_DIR = Path("runs")  # as kit.crossval._rundir names them: runs/NAME, and a fold's model fold-K/model.keras
RUN_MODEL = Path("fold-1") / "model.keras"
WEIGHT_SUFFIXES = (".h5", ".hdf5")  # Keras' .weights.h5 and the applications' own (legacy) .h5 files
KERAS_SUFFIX = ".keras"  # a whole kit model (a fold's model.keras): its backbone's weights are taken


@dataclass(frozen=True)
class Backbone:
    """One Keras application: how it preprocesses 0–255 pixels (``builtin``: the application's own layers with
    ``include_preprocessing``; ``caffe``, ``tf``, ``torch``: Keras' ``imagenet_utils`` modes, as a kit layer), the
    smallest input side it takes, its pooled features and parameters (``include_top=False``), the ImageNet weights
    file Keras downloads into ``~/.keras/models/``, and the block names ``unfreeze_from`` takes (the first layer whose
    name starts with ``layer_prefix`` + the block name begins the unfrozen part)."""

    preprocessing: Literal["builtin", "caffe", "tf", "torch", "preset"]
    min_size: int
    features: int
    parameters: int
    imagenet_file: str
    blocks: tuple[str, ...]
    layer_prefix: str = ""


def _stages(counts: dict[int, int], pools: bool = False) -> tuple[str, ...]:
    """ResNet's and DenseNet's stage and block names: ``{2: 3}`` gives conv2, conv2_block1 … conv2_block3 (then
    DenseNet's transition pool2 when ``pools``), from conv1 and pool1 on."""
    names = ["conv1", "pool1"]
    for stage, count in counts.items():
        names += [f"conv{stage}", *(f"conv{stage}_block{index}" for index in range(1, count + 1))]
        if pools and stage < max(counts):
            names.append(f"pool{stage}")
    return tuple(names)


def _efficientnet(counts: tuple[int, ...]) -> tuple[str, ...]:
    stages = [(f"block{s}", [f"block{s}{chr(97 + i)}" for i in range(n)]) for s, n in enumerate(counts, start=1)]
    return ("stem", *[name for stage, blocks in stages for name in (stage, *blocks)], "top")


def _convnext(stage_2: int) -> tuple[str, ...]:
    names = ["stem"]
    for stage, count in enumerate((3, 3, stage_2, 3)):
        if stage:
            names.append(f"downsampling_block_{stage - 1}")
        names += [f"stage_{stage}", *(f"stage_{stage}_block_{index}" for index in range(count))]
    return tuple(names)


def _mobilenet(count: int) -> tuple[str, ...]:
    return ("conv", "expanded_conv", *(f"expanded_conv_{index}" for index in range(1, count + 1)), "conv_1")


_RESNET = _stages({2: 3, 3: 4, 4: 6, 5: 3})
_DENSENET = (*_stages({2: 6, 3: 12, 4: 24, 5: 16}, pools=True), "bn")
_INCEPTION = (
    "mixed_5b",
    *(f"block35_{index}" for index in range(1, 11)),
    "mixed_6a",
    *(f"block17_{index}" for index in range(1, 21)),
    "mixed_7a",
    *(f"block8_{index}" for index in range(1, 11)),
    "conv_7b",
)
_TF_NOTOP = "_weights_tf_dim_ordering_tf_kernels_notop.h5"
_MOBILENET_FILE = "weights_mobilenet_v3_{}_224_1.0_float_no_top_v2.h5"

BACKBONES: dict[str, Backbone] = {
    "ResNet50": Backbone("caffe", 32, 2048, 23_587_712, f"resnet50{_TF_NOTOP}", _RESNET),
    "InceptionResNetV2": Backbone("tf", 75, 1536, 54_336_736, f"inception_resnet_v2{_TF_NOTOP}", _INCEPTION),
    "EfficientNetV2B0": Backbone(
        "builtin", 32, 1280, 5_919_312, "efficientnetv2-b0_notop.h5", _efficientnet((1, 2, 2, 3, 5, 8))
    ),
    "EfficientNetV2B1": Backbone(
        "builtin", 32, 1280, 6_931_124, "efficientnetv2-b1_notop.h5", _efficientnet((2, 3, 3, 4, 6, 9))
    ),
    "EfficientNetV2B2": Backbone(
        "builtin", 32, 1408, 8_769_374, "efficientnetv2-b2_notop.h5", _efficientnet((2, 3, 3, 4, 6, 10))
    ),
    "EfficientNetV2B3": Backbone(
        "builtin", 32, 1536, 12_930_622, "efficientnetv2-b3_notop.h5", _efficientnet((2, 3, 3, 5, 7, 12))
    ),
    "EfficientNetV2S": Backbone(
        "builtin", 32, 1280, 20_331_360, "efficientnetv2-s_notop.h5", _efficientnet((2, 4, 4, 6, 9, 15))
    ),
    "ConvNeXtTiny": Backbone("builtin", 32, 768, 27_820_128, "convnext_tiny_notop.h5", _convnext(9), "convnext_tiny_"),
    "ConvNeXtSmall": Backbone(
        "builtin", 32, 768, 49_454_688, "convnext_small_notop.h5", _convnext(27), "convnext_small_"
    ),
    "MobileNetV3Small": Backbone("builtin", 32, 576, 939_120, _MOBILENET_FILE.format("small"), _mobilenet(10)),
    "MobileNetV3Large": Backbone("builtin", 32, 960, 2_996_352, _MOBILENET_FILE.format("large"), _mobilenet(14)),
    "Xception": Backbone("tf", 71, 2048, 20_861_480, f"xception{_TF_NOTOP}", tuple(f"block{i}" for i in range(1, 15))),
    "DenseNet121": Backbone("torch", 32, 1024, 7_037_504, f"densenet121{_TF_NOTOP}", _DENSENET),
}
BackboneName = Literal[
    "ResNet50", "InceptionResNetV2", "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
    "EfficientNetV2S", "ConvNeXtTiny", "ConvNeXtSmall", "MobileNetV3Small", "MobileNetV3Large", "Xception",
    "DenseNet121",
]  # fmt: skip
HubName = Annotated[Str, StringConstraints(pattern=HUB_PATTERN)]  # hub:<KerasHub preset or backbone class>


def _name_kind(value: Any) -> str:
    return "hub" if isinstance(value, str) and value.startswith("hub:") else "application"


AnyBackboneName = Annotated[
    Union[Annotated[BackboneName, Tag("application")], Annotated[HubName, Tag("hub")]], Discriminator(_name_kind)
]


@spec
class BackboneSpec(Spec):
    """A pretrained Keras application in place of the conv blocks, pooled (``pooling``) and dropped out
    (``dropout``) into the dense head (``model.dense``, then the output).

    ``weights``: ``"imagenet"`` (Keras' download, cached in ``~/.keras/models/``), a weights file (``.weights.h5`` or
    an application's ``.h5``), a folder holding one (``/kaggle/input/<dataset>``), a kit model file (``.keras``) or
    ``"run:PATH"`` (the backbone of a finished kit run's fold-1 model; the head is new); ``false``: random weights.
    ``input_size``: the side the images are resized to inside the model (default: the images' own size). Greyscale
    images are widened to 3 channels and the backbone's own preprocessing runs inside the model, on 0–255 pixels.

    Fine-tuning: the backbone stays frozen (BatchNorm in inference mode) for ``freeze_epochs`` epochs, then its layers
    from ``unfreeze_from`` on (a block name, or the share 0–1 of its layers counted from the top) train, at
    ``lr_factor`` × the head's learning rate; ``train_batch_norm`` lets their BatchNorm layers train too (default:
    only when the weights are random).
    """

    MISSING: ClassVar[dict[str, str]] = {
        "name": f"give the backbone, e.g. name = 'EfficientNetV2B0' (one of {', '.join(BACKBONES)})"
    }

    name: AnyBackboneName
    weights: Str | None = None
    input_size: Int | None = Field(None, ge=32, le=2048)
    pooling: Literal["avg", "max"] = "avg"
    dropout: Annotated[Float, Field(ge=0.0, le=0.95)] = 0.0
    freeze_epochs: Int = Field(0, ge=0, le=10_000)
    unfreeze_from: either(number=Annotated[Float, Field(ge=0.0, le=1.0)], string=Str) = 1.0
    lr_factor: Float = Field(1.0, gt=0.0, le=10.0)
    train_batch_norm: Bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_name(cls, data: Any) -> Any:
        given = (data.kwargs or {}) if hasattr(data, "kwargs") else data  # Python's arguments (ArgsKwargs), or a table
        name = given.get("name") if isinstance(given, dict) else None
        if isinstance(name, str) and name not in BACKBONES and not re.fullmatch(HUB_PATTERN, name):
            known = ", ".join(map(repr, BACKBONES))
            raise field_problem("name", f"{name!r} is not one of {known}, nor hub:<a KerasHub preset or class>")
        return data

    @model_validator(mode="after")
    def _known_block(self) -> BackboneSpec:
        if self.weights is not None and not self.weights.strip():
            raise field_problem("weights", "empty; give 'imagenet', a weights file, 'run:PATH' or false")
        if self.hub is not None:  # a KerasHub backbone: its layer names are checked when it is built
            problem = hub_weights_problem(self.hub, self.weights)
            if problem:
                raise field_problem("weights", problem)
            return self
        blocks = BACKBONES[self.name].blocks
        if isinstance(self.unfreeze_from, str) and self.unfreeze_from not in blocks:
            shown = ", ".join(blocks) if len(blocks) <= 12 else f"{', '.join(blocks[:8])}, …, {blocks[-1]}"
            message = f"{self.unfreeze_from!r} is no block of {self.name}; give one of {shown}, or a share 0–1"
            raise field_problem("unfreeze_from", message)
        return self

    @property
    def hub(self) -> str | None:
        """The KerasHub preset or backbone class of a ``hub:`` name, else None (a Keras application)."""
        return hub_target(self.name)

    @property
    def info(self) -> Backbone:
        """The application's registry entry; for a KerasHub backbone, one with its preset's parameter count (0 where
        the preset is not on this machine), its own preprocessing and no block names (``unfreeze_from`` takes its
        layer names)."""
        if self.hub is None:
            return BACKBONES[self.name]
        source = weights_source(self)
        parameters = preset_parameters(str(source.path)) if source.kind == "preset" and not source.problem else 0
        return Backbone("preset", 32, 0, parameters, "", ())

    @property
    def trains_batch_norm(self) -> bool:
        """Whether unfrozen BatchNorm layers train (update their statistics): as set, else only from random weights."""
        return self.weights is None if self.train_batch_norm is None else self.train_batch_norm

    def input_side(self, input_shape: tuple[int, ...]) -> tuple[int, int]:
        """(height, width) the backbone sees for images of ``input_shape``."""
        return (self.input_size, self.input_size) if self.input_size else tuple(input_shape[:2])

    def size_problem(self, input_shape: tuple[int, ...]) -> str | None:
        """Why the backbone cannot take images of ``input_shape``, or None."""
        height, width = self.input_side(input_shape)
        least = self.info.min_size
        if min(height, width) >= least:
            return None
        where = "model.backbone.input_size" if self.input_size else "model.backbone"
        return (
            f"key {where}: {self.name} takes images of at least {least}×{least}, it would get {height}×{width}; "
            f"set model.backbone.input_size = {least} or more (the model resizes them)"
        )


@dataclass(frozen=True)
class WeightsSource:
    """Where a backbone's weights come from: ``kind`` none, imagenet (``path``: the Keras cache file), file (a
    weights file), model (a kit ``.keras`` model whose backbone is taken), preset (a KerasHub preset folder), download
    (``handle``: a KerasHub preset name or kaggle:// / hf:// handle KerasHub downloads); ``problem``: why they cannot
    be read."""

    kind: Literal["none", "imagenet", "file", "model", "preset", "download"]
    path: Path | None = None
    problem: str | None = None
    handle: str | None = None

    def describe(self) -> str:
        if self.problem:
            return f"unavailable: {self.problem}"
        if self.kind == "none":
            return "none (random initial weights)"
        if self.kind == "imagenet":
            there = "present" if self.path.is_file() else "not there yet: Keras downloads it on first use"
            return f"imagenet, from the Keras cache {self.path} ({there})"
        if self.kind == "model":
            return f"the backbone of the kit model {self.path} (a new head)"
        if self.kind == "preset":
            return f"the KerasHub preset {self.path}"
        if self.kind == "download":
            return f"the KerasHub preset {self.handle}, downloaded by KerasHub on first use (then from its cache)"
        return f"the weights file {self.path}"


def keras_cache(file_name: str) -> Path:
    """Where Keras' ``get_file`` keeps a downloaded application's weights: ``$KERAS_HOME/models`` or
    ``~/.keras/models`` (``/tmp/.keras`` where that is not writable, as Keras decides)."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    home = os.path.expanduser(home)
    creatable = os.path.isdir(home) or os.access(os.path.dirname(home.rstrip("/")) or ".", os.W_OK)
    if not creatable or (os.path.isdir(home) and not os.access(home, os.W_OK)):  # Keras makes it on import
        home = "/tmp/.keras"
    return Path(home) / "models" / file_name


def weights_source(backbone: BackboneSpec) -> WeightsSource:
    """Where ``backbone``'s weights come from, checked on this machine's files (nothing is downloaded or loaded)."""
    weights = backbone.weights
    if weights is None:
        return WeightsSource("none")
    if backbone.hub is not None and not weights.startswith(RUN_PREFIX) and not weights.endswith(KERAS_SUFFIX):
        return _hub_source(backbone.hub, weights)
    if weights == IMAGENET:
        return WeightsSource("imagenet", keras_cache(backbone.info.imagenet_file))
    if weights.startswith(RUN_PREFIX):
        return _run_model(weights.removeprefix(RUN_PREFIX).strip())
    path = Path(weights).expanduser()
    if path.is_dir():
        return _weights_in_folder(path, backbone)
    if not path.is_file():
        return WeightsSource("file", path, f"{path} not found; give a weights file, a folder holding one or 'imagenet'")
    if path.name.endswith(KERAS_SUFFIX):
        return WeightsSource("model", path)
    if not path.name.endswith(WEIGHT_SUFFIXES):
        return WeightsSource("file", path, f"{path} is no weights file (.weights.h5, .h5) nor kit model (.keras)")
    return WeightsSource("file", path)


def _run_model(reference: str) -> WeightsSource:
    """The fold-1 model of a kit run folder, given by path or by name under ``runs/``."""
    candidates = list(dict.fromkeys([Path(reference).expanduser(), RUNS_DIR / reference]))  # one if absolute
    for folder in candidates:
        if (folder / RUN_MODEL).is_file():
            return WeightsSource("model", folder / RUN_MODEL)
    where = " or ".join(str(folder) for folder in candidates)
    return WeightsSource(
        "model",
        candidates[0] / RUN_MODEL,
        f"run:{reference}: no {RUN_MODEL} in {where}; give a finished kit run folder",
    )


def _weights_in_folder(folder: Path, backbone: BackboneSpec) -> WeightsSource:
    """The weights file inside ``folder`` (a Kaggle dataset under /kaggle/input): the only one there, else the one
    named like the application's ImageNet file."""
    try:
        found = sorted(p for p in folder.rglob("*") if p.name.endswith(WEIGHT_SUFFIXES) and p.is_file())
    except OSError as error:
        return WeightsSource("file", folder, f"{folder}: cannot read it ({error.strerror or error})")
    named = [path for path in found if path.name == backbone.info.imagenet_file]
    if len(found) == 1 or len(named) == 1:
        return WeightsSource("file", (named or found)[0])
    if not found:
        expected = backbone.info.imagenet_file
        return WeightsSource("file", folder, f"{folder} holds no weights file (.weights.h5 or .h5, e.g. {expected})")
    shown = ", ".join(path.name for path in found[:4]) + (", …" if len(found) > 4 else "")
    return WeightsSource("file", folder, f"{folder} holds {len(found)} weights files ({shown}); give the file's path")


def _hub_source(target: str, weights: str) -> WeightsSource:
    """A KerasHub backbone's preset: downloaded as the recipe asks (``"download"``, a handle), else a local folder."""
    if weights == DOWNLOAD:
        return WeightsSource("download", handle=target)
    if is_handle(weights):
        return WeightsSource("download", handle=weights)
    problem = hub_weights_problem(target, weights)
    folder = Path(weights).expanduser()
    if problem is None and not folder.is_dir():
        what = "a file, not a preset folder" if folder.is_file() else "not found"
        problem = f"{folder} {what}; give {HUB_WEIGHTS}"
    if problem:
        return WeightsSource("preset", folder, problem)
    preset, problem = check_preset(target, folder)
    return WeightsSource("preset", preset, problem)
