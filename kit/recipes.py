"""Load declarative TOML recipes (with ``extends`` and overrides) into validated, frozen dataclasses."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tomllib
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

from kit.errors import KitError

RECIPE_SUFFIX = ".toml"


def bounded(default: Any = MISSING, low: float | None = None, high: float | None = None, open_low: bool = False):
    """A dataclass field whose numeric value must lie in ``[low, high]`` (``(low, high]`` with ``open_low``)."""
    return field(default=default, metadata={"low": low, "high": high, "open_low": open_low})


BatchNorm = Literal["before_activation", "after_activation"]
Padding = Literal["same", "valid"]
PER_CONV = ("filters", "kernel", "strides", "padding")


class FieldProblem(KitError):
    """A value that breaks a rule spanning several fields; ``field`` is its key relative to the table that raised it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"key {field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True)
class ConvBlock:
    """``convs`` convolutions (each optionally batch-normalised), then optional pooling and dropout.

    ``filters``, ``kernel``, ``strides`` and ``padding`` take one value for every conv or a list with one per conv.
    ``batch_norm`` puts a BatchNormalization after each conv: ``"before_activation"`` (conv without bias → BN →
    activation) or ``"after_activation"`` (conv with activation → BN).
    """

    filters: int | tuple[int, ...] = bounded(low=1)
    convs: int = bounded(1, low=1)
    kernel: int | tuple[int, ...] = bounded(3, low=1)
    strides: int | tuple[int, ...] = bounded(1, low=1)
    padding: Padding | tuple[Padding, ...] = "same"
    batch_norm: BatchNorm | None = None
    pool: Literal["max", "avg", "none"] = "max"
    dropout: float = bounded(0.0, low=0.0, high=0.95)

    def __post_init__(self) -> None:
        for name in PER_CONV:
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != self.convs:
                raise FieldProblem(name, f"{len(value)} values for {self.convs} convs; give one value or one per conv")

    def conv_layout(self) -> list[tuple[int, int, int, str]]:
        """(filters, kernel, stride, padding) of each convolution, in order."""
        settings = [getattr(self, name) for name in PER_CONV]
        return [tuple(value[index] if isinstance(value, tuple) else value for value in settings) for index in range(self.convs)]


@dataclass(frozen=True)
class DenseLayer:
    """A fully connected hidden layer, optionally batch-normalised (as in a conv block), then optional dropout."""

    units: int = bounded(low=1)
    batch_norm: BatchNorm | None = None
    dropout: float = bounded(0.0, low=0.0, high=0.95)


@dataclass(frozen=True)
class ModelSpec:
    """The network: conv blocks, a flatten or global-pooling head, dense layers, then a softmax output.

    ``head_dropout`` drops head features before the dense layers; ``output_batch_norm`` batch-normalises the output
    logits (a Dense without bias, then BN, then softmax); ``batch_norm_momentum`` is Keras' (PyTorch's 0.1 is 0.9).
    """

    blocks: tuple[ConvBlock, ...]
    dense: tuple[DenseLayer, ...] = ()
    activation: Literal["relu", "elu", "gelu", "swish", "leaky_relu"] = "relu"
    head: Literal["flatten", "global_avg", "global_max"] = "flatten"
    head_dropout: float = bounded(0.0, low=0.0, high=0.95)
    output_batch_norm: bool = False
    batch_norm_momentum: float = bounded(0.99, low=0.0, high=1.0, open_low=True)


# The settings each schedule kind reads, with their defaults (None: the recipe must give it).
SCHEDULE_SETTINGS: dict[str, dict[str, float | None]] = {
    "constant": {},
    "exponential": {"decay": None},
    "cosine": {"warmup": 0.0, "start_factor": 0.04, "final_factor": 0.0},
    "one_cycle": {"warmup": 0.3, "start_factor": 0.04, "final_factor": 0.0},
}


@dataclass(frozen=True)
class ScheduleSpec:
    """The learning-rate schedule over training.

    ``constant``: ``learning_rate`` throughout (ReduceLROnPlateau may still lower it). ``exponential``: multiplied by
    ``decay`` after every epoch. ``cosine``: cosine-annealed to ``learning_rate × final_factor`` over all steps, after
    an optional linear warm-up over a ``warmup`` fraction of the steps starting at ``learning_rate × start_factor``.
    ``one_cycle``: the same with a 30 % warm-up by default (Smith's 1cycle without momentum cycling).
    """

    kind: Literal["constant", "exponential", "cosine", "one_cycle"] = "constant"
    decay: float | None = bounded(None, low=0.0, high=1.0, open_low=True)
    warmup: float | None = bounded(None, low=0.0, high=0.9)
    start_factor: float | None = bounded(None, low=0.0, high=1.0, open_low=True)
    final_factor: float | None = bounded(None, low=0.0, high=1.0)

    def __post_init__(self) -> None:
        settings = SCHEDULE_SETTINGS[self.kind]
        for name in (spec.name for spec in fields(self) if spec.name != "kind"):
            given = getattr(self, name) is not None
            if given and name not in settings:
                users = " or ".join(repr(kind) for kind, names in SCHEDULE_SETTINGS.items() if name in names)
                raise FieldProblem(name, f"only used when kind is {users}, not {self.kind!r}; remove it or set it to false")
            if not given and name in settings and settings[name] is None:
                raise FieldProblem(name, f"missing; kind = {self.kind!r} needs it")

    def setting(self, name: str) -> float:
        """The value of one of this kind's settings, the kind's default where the recipe gives none."""
        value = getattr(self, name)
        return SCHEDULE_SETTINGS[self.kind][name] if value is None else value


@dataclass(frozen=True)
class TrainSpec:
    """Optimiser, loss, schedule, numeric precision and the length of training.

    ``weight_decay`` is Keras' decoupled weight decay (any optimizer; ``None`` keeps the optimizer's default, 0.004 for
    adamw), never applied to biases or batch-norm scales; ``ema`` keeps an exponential moving average of the weights
    with that momentum and ends training on it; ``precision`` is the Keras dtype policy of the layers (the softmax stays
    float32); ``jit_compile`` is Keras' XLA switch.
    """

    optimizer: Literal["adam", "adamw", "rmsprop", "sgd", "nadam"] = "adam"
    learning_rate: float = bounded(0.001, low=0.0, high=10.0, open_low=True)
    schedule: ScheduleSpec = ScheduleSpec()
    weight_decay: float | None = bounded(None, low=0.0, high=1.0)
    ema: float | None = bounded(None, low=0.0, high=0.99999, open_low=True)
    loss: Literal["categorical_crossentropy"] = "categorical_crossentropy"
    label_smoothing: float = bounded(0.0, low=0.0, high=0.5)
    batch_size: int = bounded(32, low=1, high=65536)
    epochs: int = bounded(30, low=1, high=10000)
    precision: Literal["float32", "mixed_bfloat16", "mixed_float16"] = "float32"
    jit_compile: bool | Literal["auto"] = "auto"


@dataclass(frozen=True)
class CVSpec:
    """Stratified K-fold settings."""

    folds: int = bounded(5, low=2, high=100)
    seed: int = bounded(0, low=0)


@dataclass(frozen=True)
class AugmentSpec:
    """Random on-the-fly augmentation: rotation in degrees, zoom and shifts as fractions of the image."""

    rotation: float = bounded(0.0, low=0.0, high=180.0)
    zoom: float = bounded(0.0, low=0.0, high=0.9)
    width_shift: float = bounded(0.0, low=0.0, high=0.9)
    height_shift: float = bounded(0.0, low=0.0, high=0.9)
    fill_mode: Literal["constant", "nearest", "reflect", "wrap"] = "constant"

    @property
    def enabled(self) -> bool:
        return any((self.rotation, self.zoom, self.width_shift, self.height_shift))


@dataclass(frozen=True)
class EarlyStoppingSpec:
    """Arguments of ``keras.callbacks.EarlyStopping``."""

    monitor: str = "val_loss"
    min_delta: float = bounded(0.0, low=0.0)
    patience: int = bounded(0, low=0)
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best_weights: bool = False
    start_from_epoch: int = bounded(0, low=0)


@dataclass(frozen=True)
class ReduceLROnPlateauSpec:
    """Arguments of ``keras.callbacks.ReduceLROnPlateau``."""

    monitor: str = "val_loss"
    factor: float = bounded(0.1, low=0.0, high=1.0, open_low=True)
    patience: int = bounded(10, low=0)
    mode: Literal["auto", "min", "max"] = "auto"
    min_delta: float = bounded(0.0001, low=0.0)
    cooldown: int = bounded(0, low=0)
    min_lr: float = bounded(0.0, low=0.0)


@dataclass(frozen=True)
class CallbacksSpec:
    """Optional Keras callbacks; ``false`` in a recipe switches off one that a parent recipe set."""

    early_stopping: EarlyStoppingSpec | None = None
    reduce_lr_on_plateau: ReduceLROnPlateauSpec | None = None


@dataclass(frozen=True)
class Recipe:
    """A CNN variant: architecture, training, CV, augmentation and callbacks, plus an optional tuning space."""

    name: str
    model: ModelSpec
    description: str = ""
    train: TrainSpec = TrainSpec()
    cv: CVSpec = CVSpec()
    augment: AugmentSpec = AugmentSpec()
    callbacks: CallbacksSpec = CallbacksSpec()
    tune: dict[str, Any] = field(default_factory=dict)
    content: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.train.schedule.kind != "constant" and self.callbacks.reduce_lr_on_plateau:
            raise FieldProblem(
                "callbacks.reduce_lr_on_plateau",
                f"cannot lower a learning rate that train.schedule.kind = {self.train.schedule.kind!r} sets; "
                "set reduce_lr_on_plateau = false or kind = 'constant'",
            )

    def feature_maps(self, input_shape: tuple[int, ...]) -> list[tuple[int, int, int]]:
        """(height, width, channels) after each conv block for images of ``input_shape`` (height, width, channels).

        A "valid" conv whose kernel is larger than the feature map it gets fails with one line naming its key.
        """
        height, width = input_shape[:2]
        maps = []
        for index, block in enumerate(self.model.blocks):
            for number, (filters, kernel, stride, padding) in enumerate(block.conv_layout(), start=1):
                if padding == "same":
                    height, width = -(-height // stride), -(-width // stride)
                    continue
                if kernel > min(height, width):
                    raise KitError(
                        f"recipe {self.name}: key model.blocks.{index}.kernel: the {kernel}×{kernel} kernel of conv "
                        f"{number} is larger than the {height}×{width} feature map it gets; "
                        "use a smaller kernel, fewer convs or padding = 'same'"
                    )
                height, width = (height - kernel) // stride + 1, (width - kernel) // stride + 1
            if block.pool != "none":
                height, width = -(-height // 2), -(-width // 2)
            maps.append((height, width, filters))
        return maps

    @property
    def content_hash(self) -> str:
        """A short hash of everything that changes training (not the name, description or tuning space)."""
        training = {key: value for key, value in asdict(self).items() if key not in {"name", "description", "tune", "content"}}
        return hashlib.sha256(json.dumps(training, sort_keys=True).encode()).hexdigest()[:12]

    def with_overrides(self, overrides: dict[str, Any]) -> Recipe:
        """A copy with dotted keys replaced (``{"train.epochs": 3, "model.blocks.0.dropout": 0.5}``), re-validated."""
        content = copy.deepcopy(self.content)
        try:
            for key, value in overrides.items():
                set_dotted(content, key, value)
            return parse_recipe(content, self.name)
        except KitError as error:
            raise KitError(f"recipe {self.name}: {error}") from None


def set_dotted(content: dict[str, Any], key: str, value: Any) -> None:
    """Set ``value`` at a dotted ``key`` whose numeric parts index lists, failing with the key if it has no place."""
    *parents, last = key.split(".")
    node: Any = content
    for depth, part in enumerate(parents):
        node = _child(node, part, key, create=depth < len(parents))
    if isinstance(node, list):
        node[_index(node, last, key)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise KitError(f"key {key}: {'.'.join(parents)} is not a table")


def _child(node: Any, part: str, key: str, create: bool) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, key)]
    if isinstance(node, dict):
        return node.setdefault(part, {}) if create else node[part]
    raise KitError(f"key {key}: {part!r} is not inside a table")


def _index(node: list, part: str, key: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise KitError(f"key {key}: {part!r} is not an index of a list of {len(node)}")
    return int(part)


def _check_bounds(value: float | tuple, spec: dict[str, Any], key: str) -> None:
    if isinstance(value, tuple):
        for index, element in enumerate(value):
            _check_bounds(element, spec, f"{key}.{index}")
        return
    low, high, open_low = spec.get("low"), spec.get("high"), spec.get("open_low", False)
    if low is not None and (value <= low if open_low else value < low):
        raise KitError(f"key {key}: {value} must be {'>' if open_low else '≥'} {low}")
    if high is not None and value > high:
        raise KitError(f"key {key}: {value} must be ≤ {high}")


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(kind))
    if typing.get_origin(kind) is tuple:
        return "a list"
    if is_dataclass(kind):
        return "a table"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(kind, str(kind))


def _convert(kind: Any, value: Any, key: str) -> Any:
    """Convert a TOML value to ``kind``, failing with one line that names ``key``."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(typing.get_args(kind), value, key)
    if origin is Literal:
        if value not in typing.get_args(kind):
            raise KitError(f"key {key}: {value!r} is not {_type_name(kind)}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise KitError(f"key {key}: expected {_type_name(kind)}, got {value!r}")
        item = typing.get_args(kind)[0]
        return tuple(_convert(item, element, f"{key}.{index}") for index, element in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise KitError(f"key {key}: expected a table")
        return value
    if is_dataclass(kind):
        return _build(kind, value, key)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise KitError(f"key {key}: expected {_type_name(kind)}, got {value!r}")
    return value


def _fits(kind: Any, value: Any) -> bool:
    """Whether ``value`` has the TOML shape of ``kind``: a list for tuples, a table for tables, else a plain value."""
    if isinstance(value, list):
        return typing.get_origin(kind) is tuple
    if isinstance(value, dict):
        return is_dataclass(kind) or typing.get_origin(kind) is dict
    return typing.get_origin(kind) is not tuple and not is_dataclass(kind) and typing.get_origin(kind) is not dict


def _convert_union(options: tuple[Any, ...], value: Any, key: str) -> Any:
    """Convert to the first option of a union that takes ``value``; ``false`` means ``None`` where that is an option."""
    if type(None) in options and (value is False or value is None):
        return None
    kinds = [option for option in options if option is not type(None)]
    fitting = [option for option in kinds if _fits(option, value)]
    if isinstance(value, (list, dict)) and len(fitting) == 1:
        return _convert(fitting[0], value, key)  # a list or table: its own errors name the item at fault
    for option in fitting:
        try:
            return _convert(option, value, key)
        except KitError:
            continue
    names = [_type_name(option) for option in kinds] + (["false"] if type(None) in options else [])
    raise KitError(f"key {key}: expected {' or '.join(names)}, got {value!r}")


def _build(cls: type, data: Any, prefix: str, **fixed: Any) -> Any:
    """Build dataclass ``cls`` from a TOML table (plus ``fixed`` fields), rejecting unknown and missing keys."""
    where = prefix or "top level"
    if not isinstance(data, dict):
        raise KitError(f"key {where}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {spec.name: spec for spec in fields(cls) if spec.name not in fixed}
    for key in data:
        if key not in known:
            choices = ", ".join(known)
            raise KitError(f"key {_join(prefix, key)}: unknown key (known keys here: {choices})")
    values = {}
    for name, spec in known.items():
        key = _join(prefix, name)
        if name not in data:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise KitError(f"key {key}: missing; {cls.__doc__.splitlines()[0]}")
            continue
        values[name] = _convert(hints[name], data[name], key)
        if spec.metadata and values[name] is not None:
            _check_bounds(values[name], spec.metadata, key)
    try:
        return cls(**values, **fixed)
    except FieldProblem as problem:
        raise KitError(f"key {_join(prefix, problem.field)}: {problem.message}") from None


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def parse_recipe(content: dict[str, Any], name: str) -> Recipe:
    """Validate a resolved recipe table (no ``extends`` left) into a :class:`Recipe`."""
    return _build(Recipe, content, "", name=name, content=content)


def search_path() -> list[Path]:
    """Folders searched for ``NAME.toml``: ``$KIT_RECIPES`` (``:``-separated), ``./recipes``, the shipped recipes."""
    folders = [Path(part) for part in os.environ.get("KIT_RECIPES", "").split(os.pathsep) if part]
    return [*folders, Path("recipes"), shipped_recipes()]


def shipped_recipes() -> Path:
    """The recipes that ship inside the package (a wheel carries them as package data)."""
    from importlib.resources import files

    return Path(str(files("kit.shipped") / "recipes"))


def find_recipe(reference: str, near: Path | None = None) -> Path:
    """The file a recipe reference names: a path to a ``.toml`` file, or a name looked up on the search path."""
    if reference.endswith(RECIPE_SUFFIX) or os.sep in reference:
        path = Path(reference)
        if not path.is_file():
            raise KitError(f"recipe {reference}: file not found")
        return path
    folders = ([near] if near else []) + search_path()
    for folder in folders:
        candidate = folder / f"{reference}{RECIPE_SUFFIX}"
        if candidate.is_file():
            return candidate
    known = sorted({path.stem for folder in folders if folder.is_dir() for path in folder.glob(f"*{RECIPE_SUFFIX}")})
    raise KitError(f"recipe {reference!r} not found; known recipes: {', '.join(known) or 'none'}")


def merge(base: Any, override: Any, key: str = "") -> Any:
    """Deep-merge ``override`` into ``base``; a table with numeric keys overrides list items by index."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            merged[name] = merge(base[name], value, _join(key, name)) if name in base else value
        return merged
    if isinstance(base, list) and isinstance(override, dict):
        merged = list(base)
        for index, value in override.items():
            position = _index(merged, index, _join(key, index))
            merged[position] = merge(merged[position], value, _join(key, index))
        return merged
    return override


def read_recipe_content(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a recipe file and resolve its ``extends`` chain into one table."""
    path = path.resolve()
    if path in seen:
        raise KitError(f"recipe {path.name}: extends itself through {' → '.join(p.stem for p in seen)}")
    try:
        content = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise KitError(f"recipe {path}: invalid TOML ({error})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KitError(f"recipe {path}: cannot read it ({error})") from None
    parent = content.pop("extends", None)
    if parent is None:
        return content
    if not isinstance(parent, str):
        raise KitError(f"recipe {path.name}: key extends must be a recipe name, got {parent!r}")
    base = read_recipe_content(find_recipe(parent, near=path.parent), (*seen, path))
    base.pop("description", None)
    return merge(base, content)


def load_recipe(reference: str) -> Recipe:
    """Load a recipe by name (``recipes/NAME.toml``) or path, resolving ``extends``."""
    path = find_recipe(reference)
    content = read_recipe_content(path)
    try:
        return parse_recipe(content, path.stem)
    except KitError as error:
        raise KitError(f"recipe {path}: {error}") from None
