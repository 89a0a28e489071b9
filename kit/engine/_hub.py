"""KerasHub backbones inside kit's models (``[model.backbone] name = "hub:<preset or class>"``; the optional ``hub``
extra, ``pip install 'kit[hub]'``), offline first: built from a preset folder on this machine (found and checked by
:mod:`kit.recipes._hubpreset`), downloaded by KerasHub only where the recipe says ``"download"`` or gives a
``kaggle://`` / ``hf://`` handle, or taken from another kit model (``run:PATH``). Before the backbone: the preset
image converter's scale and offset, as a registered kit layer (``kit>ScaleOffset``) on 0–255 RGB pixels; after it,
pooling of its feature map (or of its tokens, for a transformer). keras-hub is imported only when one is built.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import keras
from keras import layers, ops

from kit.errors import KitError
from kit.recipes import BackboneSpec, WeightsSource, weights_source
from kit.recipes._hubpreset import is_class_name, preset_class, preset_parameters

SIDE_LAYERS = "float32"  # as kit.engine._backbones: preprocessing in float32 whatever the policy
POOLING = {
    ("avg", 4): layers.GlobalAveragePooling2D,
    ("max", 4): layers.GlobalMaxPooling2D,
    ("avg", 3): layers.GlobalAveragePooling1D,  # a transformer's tokens
    ("max", 3): layers.GlobalMaxPooling1D,
}
ROUGH = 0.01  # KerasHub's registry gives some parameter counts rounded


@keras.saving.register_keras_serializable(package="kit")
class ScaleOffset(layers.Layer):
    """``x × scale + offset`` per channel (or for all): a KerasHub image converter's preprocessing, without resizing
    (kit resizes before it)."""

    def __init__(self, scale: float | list[float] = 1.0, offset: float | list[float] = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset

    def call(self, inputs):
        scale, offset = (ops.convert_to_tensor(v, dtype=inputs.dtype) for v in (self.scale, self.offset))
        return inputs * scale + offset

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def _keras_hub() -> Any:
    try:
        import keras_hub
    except ImportError:
        raise KitError(
            "KerasHub backbones (model.backbone.name = 'hub:…') need keras-hub: pip install 'kit[hub]'"
        ) from None
    return keras_hub


def _first_line(error: BaseException, limit: int = 300) -> str:
    lines = str(error).strip().splitlines()
    return (lines[0].strip() if lines else type(error).__name__)[:limit]


def _source(spec: BackboneSpec) -> WeightsSource:
    source = weights_source(spec)
    if source.problem:
        raise KitError(f"key model.backbone.weights: {source.problem}")
    return source


def _location(source: WeightsSource) -> str:
    """What KerasHub's ``from_preset`` takes: the preset folder, or the preset name / handle it downloads."""
    return str(source.path) if source.kind == "preset" else source.handle


def hub_layers(spec: BackboneSpec, size: tuple[int, int], dtype: str) -> list[keras.layers.Layer]:
    """The preset's preprocessing, the backbone for RGB images of ``size`` (``dtype``: the recipe's policy) and its
    pooling as ``spec.pooling``: what follows the widening and resizing in :func:`kit.engine.backbone_stack`."""
    source = _source(spec)
    backbone = build_hub_backbone(spec, size, dtype)
    scale, offset = _scaling(source, backbone)
    rank = len(backbone.output.shape)
    if (spec.pooling, rank) not in POOLING:
        raise KitError(f"backbone {spec.name}: output shape {backbone.output.shape}; kit pools 3-D and 4-D ones")
    return [ScaleOffset(scale, offset, dtype=SIDE_LAYERS), backbone, POOLING[spec.pooling, rank](dtype=dtype)]


def _scaling(source: WeightsSource, backbone: keras.Model) -> tuple[Any, Any]:
    """The scale and offset of the preset's image converter (0–255 pixels in); 1/255 and 0 (pixels in 0–1) for a
    preset without one (a bare ``backbone.save_to_preset``) or a backbone taken from a kit model."""
    if source.kind == "model":  # the other model's ScaleOffset is not read: its backbone came with kit's own
        return 1.0 / 255, 0.0
    try:
        converter = _keras_hub().layers.ImageConverter.from_preset(_location(source))
    except (FileNotFoundError, ValueError):
        return 1.0 / 255, 0.0
    scale, offset = converter.scale, converter.offset
    return (1.0 if scale is None else _plain(scale)), (0.0 if offset is None else _plain(offset))


def _plain(value: Any) -> Any:
    """A converter's scale or offset as JSON-friendly floats (a number or one per channel)."""
    if isinstance(value, (int, float)):
        return float(value)
    return [float(v) for v in keras.ops.convert_to_numpy(value).reshape(-1)]


def build_hub_backbone(spec: BackboneSpec, size: tuple[int, int], dtype: str = "float32") -> keras.Model:
    """The KerasHub backbone ``spec`` names, with its preset's weights (or a kit model's), for RGB images of ``size``:
    one line naming the folder, handle or file when it cannot be had or does not fit."""
    source, hub = _source(spec), _keras_hub()
    if source.kind == "model":
        backbone = _from_model(spec, source.path, dtype)
    else:
        if source.kind == "preset":
            _check_registry(hub, spec.hub, source.path)
        backbone = _from_preset(hub, spec, source, dtype)
    fixed = tuple(backbone.input_shape[1:3])
    if None not in fixed and fixed != tuple(size):
        raise KitError(
            f"backbone {spec.name}: takes {fixed[0]}×{fixed[1]} images only, it would get {size[0]}×{size[1]}; "
            f"set model.backbone.input_size = {fixed[0]}"
        )
    return backbone


def _from_preset(hub: Any, spec: BackboneSpec, source: WeightsSource, dtype: str) -> keras.Model:
    location = _location(source)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            backbone = hub.models.Backbone.from_preset(location, load_weights=True, dtype=dtype)
        partial = [str(w.message) for w in caught if "freshly-initialized" in str(w.message)]
        if partial:  # weights of another structure Keras only warned about: some layers kept random weights
            raise ValueError(partial[0])
    except Exception as error:  # a damaged or mismatched preset; a download without a network
        if source.kind == "download":
            raise KitError(
                f"backbone {spec.name}: KerasHub could not download {location} ({_first_line(error)}); attach the "
                "preset as a Kaggle model and set model.backbone.weights to its folder (/kaggle/input/<model>)"
            ) from None
        raise KitError(f"{location}: not a loadable KerasHub backbone preset ({_first_line(error)})") from None
    if not isinstance(backbone, keras.Model) or len(backbone.input_shape) != 4 or backbone.input_shape[-1] != 3:
        raise KitError(f"{location}: holds {type(backbone).__name__}, not a KerasHub backbone of RGB images")
    if is_class_name(spec.hub) and type(backbone).__name__ not in (spec.hub, f"{spec.hub}Backbone"):
        raise KitError(f"{location}: holds a {type(backbone).__name__} preset, not {spec.hub}")
    return backbone


def _check_registry(hub: Any, target: str, preset: Path) -> None:
    """For a preset name KerasHub knows (``resnet_50_imagenet``), that the folder holds a backbone of its class and
    (within rounding) its size: a folder of another preset is one line naming it. Names it does not know pass."""
    known = hub.models.Backbone.presets.get(target)
    if known is None or is_class_name(target):
        return
    classes = {
        name
        for name in dir(hub.models)
        if name.endswith("Backbone") and target in getattr(getattr(hub.models, name), "presets", {})
    }
    class_name, _ = preset_class(preset)
    expected = sorted(classes - {"Backbone", "FeaturePyramidBackbone"}) or ["?"]
    if class_name not in classes:
        raise KitError(f"{preset}: holds a {class_name} preset, not {target} (a {expected[0]}); give {target}'s folder")
    wanted, found = known.get("metadata", {}).get("params"), preset_parameters(str(preset))
    if isinstance(wanted, int) and wanted and found and abs(found - wanted) > ROUGH * wanted:
        raise KitError(
            f"{preset}: holds a {class_name} of {found:,} parameters, not {target} ({wanted:,}); give {target}'s folder"
        )


def _from_model(spec: BackboneSpec, path: Path, dtype: str) -> keras.Model:
    """A copy of the KerasHub backbone inside the kit model ``path`` (its config and weights; ``dtype`` its policy)."""
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        raise KitError(f"{path}: not a loadable kit model ({_first_line(error)})") from None
    source = next((layer for layer in model.layers if isinstance(layer, keras.Model)), None)
    hub = _keras_hub()
    if not isinstance(source, hub.models.Backbone):
        what = "no backbone" if source is None else f"the backbone {source.name}, not a KerasHub one"
        raise KitError(f"{path}: a model with {what}; give a run of a recipe with model.backbone.name = 'hub:…'")
    backbone = type(source).from_config({**source.get_config(), "dtype": dtype})
    backbone.set_weights(source.get_weights())
    return backbone
