"""Pretrained backbones inside kit's models, offline first: the Keras application a recipe's ``[model.backbone]``
names (one registry, :data:`kit.recipes.BACKBONES`), its weights from the ImageNet cache (downloaded only for
``"imagenet"``), a weights file, a Kaggle dataset folder or another kit model, and the layers before it: greyscale
widened to RGB, resizing, the backbone's own preprocessing. The layers are registered (``kit>ToRGB``,
``kit>ImageNetPreprocessing``, and :mod:`kit.engine._hub`'s ``kit>ScaleOffset`` for KerasHub backbones), so a saved
model loads in Keras' safe mode once this module is imported.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
from keras import layers, ops

from kit.engine._hub import build_hub_backbone, hub_layers
from kit.errors import KitError
from kit.recipes import BackboneSpec, Recipe, weights_source

TORCH_MEAN, TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, of 0–1 RGB pixels
CAFFE_MEAN = (103.939, 116.779, 123.68)  # ImageNet's, of 0–255 BGR pixels
SIDE_LAYERS = "float32"  # widening, resizing and preprocessing: in float32 whatever the policy (cheap, exact pixels)


@keras.saving.register_keras_serializable(package="kit")
class ToRGB(layers.Layer):
    """Images as 3 channels: grey repeated (1 channel, or 2: grey and alpha), the alpha of RGBA dropped."""

    def call(self, inputs):
        return ops.repeat(inputs[..., :1], 3, axis=-1) if inputs.shape[-1] < 3 else inputs[..., :3]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


@keras.saving.register_keras_serializable(package="kit")
class ImageNetPreprocessing(layers.Layer):
    """``keras.applications.imagenet_utils.preprocess_input`` as a layer on 0–255 RGB pixels: ``caffe`` (BGR less
    ImageNet's mean: ResNet50), ``tf`` (scaled to −1…1: Xception, InceptionResNetV2) or ``torch`` (0–1 standardised by
    ImageNet's mean and deviation: DenseNet121)."""

    def __init__(self, mode: str, **kwargs: Any):
        super().__init__(**kwargs)
        if mode not in ("caffe", "tf", "torch"):
            raise ValueError(f"unknown preprocessing mode {mode!r}")
        self.mode = mode

    def call(self, inputs):
        if self.mode == "tf":
            return inputs / 127.5 - 1.0
        if self.mode == "torch":
            mean, std = (ops.convert_to_tensor(v, dtype=inputs.dtype) for v in (TORCH_MEAN, TORCH_STD))
            return (inputs / 255.0 - mean) / std
        return ops.flip(inputs, axis=-1) - ops.convert_to_tensor(CAFFE_MEAN, dtype=inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def backbone_stack(
    spec: BackboneSpec, input_shape: tuple[int, ...], dtype: str, dropout: Callable[[float], keras.layers.Layer]
) -> list[keras.layers.Layer]:
    """The layers from the input to the pooled (and ``dropout``-ed) features: uint8-range images of ``input_shape``
    widened to RGB, resized to the backbone's input, preprocessed as it expects, then the backbone (``dtype``: the
    recipe's policy). The dense head and the output follow in :func:`kit.engine._models.build_layers`."""
    height, width = spec.input_side(input_shape)
    stack: list[keras.layers.Layer] = [keras.Input(shape=input_shape)]
    if input_shape[-1] != 3:
        stack.append(ToRGB(dtype=SIDE_LAYERS))
    if (height, width) != tuple(input_shape[:2]):
        stack.append(layers.Resizing(height, width, dtype=SIDE_LAYERS))
    if spec.hub is not None:  # a KerasHub backbone: its preset's scale and offset, the backbone, pooling
        stack += hub_layers(spec, (height, width), dtype)
    else:
        if spec.info.preprocessing != "builtin":
            stack.append(ImageNetPreprocessing(spec.info.preprocessing, dtype=SIDE_LAYERS))
        stack.append(build_backbone(spec, (height, width), dtype))
    if spec.dropout:
        stack.append(dropout(spec.dropout))
    return stack


def find_backbone(model: keras.Model) -> keras.Model | None:
    """The backbone inside one of kit's models (the application, a model nested in it), or None."""
    return next((layer for layer in model.layers if isinstance(layer, keras.Model)), None)


@contextlib.contextmanager
def _policy(dtype: str) -> Iterator[None]:
    """Keras' default dtype policy (per thread) set to ``dtype`` within the block: the applications' layers take it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_backbone(spec: BackboneSpec, size: tuple[int, int], dtype: str = "float32") -> keras.Model:
    """The application ``spec.name`` without its top, for RGB images of ``size`` (height, width), pooled as
    ``spec.pooling``, with its weights as ``spec.weights`` says (one line naming the file and the fix otherwise). A
    KerasHub backbone (``hub:``) is :func:`kit.engine._hub.build_hub_backbone`'s, unpooled."""
    if spec.hub is not None:
        return build_hub_backbone(spec, size, dtype)
    source = weights_source(spec)
    if source.problem:
        raise KitError(f"key model.backbone.weights: {source.problem}")
    options = {"include_top": False, "input_shape": (*size, 3), "pooling": spec.pooling}
    if spec.info.preprocessing == "builtin":
        options["include_preprocessing"] = True
    download = source.kind == "imagenet" and not source.path.is_file()
    with _policy(dtype), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*input_shape.*")  # MobileNetV3: 224×224 weights on other sizes
        backbone = _download(spec, options, source.path) if download else _application(spec)(weights=None, **options)
    if source.kind in ("imagenet", "file") and not download:
        load_weights_file(backbone, spec, source.path)
    elif source.kind == "model":
        copy_backbone(backbone, spec, source.path)
    return backbone


def _application(spec: BackboneSpec) -> Callable[..., keras.Model]:
    return getattr(keras.applications, spec.name)


def _first_line(error: BaseException, limit: int = 300) -> str:
    lines = str(error).strip().splitlines()
    return (lines[0].strip() if lines else type(error).__name__)[:limit]


def _download(spec: BackboneSpec, options: dict[str, Any], cached: Path) -> keras.Model:
    """The application with its ImageNet weights, which Keras downloads into its cache: the only download kit makes.
    Without a network it fails with one line saying where to place the file."""
    try:
        return _application(spec)(weights="imagenet", **options)
    except Exception as error:  # Keras' "URL fetch failure on URL: errno -- reason", socket errors, a bad download
        reason = _first_line(error).rsplit(" -- ", 1)[-1]
        raise KitError(
            f"backbone {spec.name}: its ImageNet weights are not on this machine and could not be downloaded "
            f"({reason}); place {cached.name} at {cached}, or attach a Kaggle dataset holding it and set "
            "model.backbone.weights to its folder (/kaggle/input/<dataset>)"
        ) from None


def load_weights_file(backbone: keras.Model, spec: BackboneSpec, path: Path) -> None:
    """Load a weights file (``.weights.h5``, or an application's ``.h5``) into ``backbone``; one line naming the
    file when it is not weights of this backbone (another architecture, a model with its top, a damaged file)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            backbone.load_weights(str(path))
        partial = [str(w.message) for w in caught if "freshly-initialized" in str(w.message)]
        if partial:  # a file of another structure Keras only warned about: some layers kept random weights
            raise ValueError(partial[0])
    except Exception as error:  # Keras raises ValueError, OSError, KeyError… for a file that does not fit
        raise KitError(
            f"{path}: not weights of {spec.name} without its top ({_first_line(error)}); give {spec.name}'s own, "
            f"e.g. {spec.info.imagenet_file} or a backbone's save_weights(…) file"
        ) from None


def copy_backbone(backbone: keras.Model, spec: BackboneSpec, path: Path) -> None:
    """Copy the backbone weights of the kit model in ``path`` (a fold's ``model.keras``) into ``backbone``: transfer
    from another run, its head left out. One line naming the file when it holds no backbone of this architecture."""
    try:  # compile=False: the optimizer (perhaps one of kit's own) is not read
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        raise KitError(f"{path}: not a loadable kit model ({_first_line(error)})") from None
    source = find_backbone(model)
    if source is None:
        raise KitError(f"{path}: a model without a backbone; give a run or model of a recipe with [model.backbone]")
    mine, theirs = backbone.weights, source.weights
    if len(mine) != len(theirs) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(mine, theirs)):
        raise KitError(
            f"{path}: its backbone ({source.name}, {len(theirs)} weights) is not {spec.name} "
            f"({len(mine)} weights); give a run of the same backbone"
        )
    for variable, value in zip(mine, theirs):
        variable.assign(value.value)


def fetch_backbone(recipe: Recipe, input_shape: tuple[int, ...]) -> None:
    """Build the recipe's backbone once, before any fold trains: ImageNet weights are downloaded into the Keras cache
    now (or fail now, with one line), a weights file or model is checked against the architecture. Nothing is kept;
    a recipe without a backbone, or with random weights, has nothing to fetch."""
    spec = recipe.model.backbone
    if spec is not None and spec.weights is not None:
        build_backbone(spec, spec.input_side(input_shape))
