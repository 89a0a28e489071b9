"""Load declarative TOML recipes (found on a search path, with ``extends`` and overrides) into validated, frozen
:class:`Recipe` objects; the format itself is :mod:`kit.recipes._schema`, its overrides :mod:`kit.recipes._keys`."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from typing import Any

from pydantic import TypeAdapter, ValidationError

from kit.errors import KitError
from kit.recipes._backbone import BackboneSpec, weights_source
from kit.recipes._errors import first_problem
from kit.recipes._keys import apply_overrides, check_depth, parse_set
from kit.recipes._schedules import SCHEDULE_SETTINGS, SETTING_NAMES, ScheduleSpec
from kit.recipes._schema import (
    MAX_PARAMETERS,
    PER_CONV,
    AugmentSpec,
    BatchNorm,
    CallbacksSpec,
    ConvBlock,
    CVSpec,
    DenseLayer,
    EarlyStoppingSpec,
    ModelSpec,
    Padding,
    RecipeTable,
    ReduceLROnPlateauSpec,
    TrainSpec,
)
from kit.recipes._types import Str, spec
from kit.utils import flatten_keys, set_dotted

__all__ = [
    "MAX_PARAMETERS", "PER_CONV", "RECIPE_SUFFIX", "SCHEDULE_SETTINGS", "AugmentSpec", "BackboneSpec", "BatchNorm",
    "CVSpec",
    "CallbacksSpec", "ConvBlock", "DenseLayer", "EarlyStoppingSpec", "ModelSpec", "Padding", "Recipe",
    "ReduceLROnPlateauSpec", "ScheduleSpec", "TrainSpec",
    "parse_recipe", "parse_set", "recipe_json_schema", "recipe_toml",
    "set_dotted",
]  # fmt: skip

RECIPE_SUFFIX = ".toml"
HASHED = ("model", "train", "cv", "augment", "callbacks")  # what changes training: not the name, description or tune
RECIPE_TABLE = TypeAdapter(RecipeTable)

# Keys added after recipes' content hashes were first recorded, with the default that leaves training as before.
LATER_KEYS: dict[str, dict[str, Any]] = {
    "model": {"backbone": None},
    "train": {"deterministic": True, "snapshots": None, "seed": None},
    "augment": {
        "flip_horizontal": False,
        "flip_vertical": False,
        "rotate90": False,
        "crop": None,
        "brightness": 0.0,
        "contrast": 0.0,
        "saturation": 0.0,
        "hue": 0.0,
        "elastic": 0.0,
        "elastic_sigma": 4.0,
    },
}


@spec
class Recipe(RecipeTable):
    """A CNN variant: architecture, training, CV, augmentation and callbacks, plus an optional tuning space.

    The tables of :class:`kit.recipes._schema.RecipeTable` (its fields and checks, declared there once) with the
    recipe's ``name`` (its file's stem) and ``content``, the resolved TOML table it was read from (``extends`` applied).
    """

    name: Str = dataclasses.field(kw_only=True)
    content: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def feature_maps(self, input_shape: tuple[int, ...]) -> list[tuple[int, int, int]]:
        """(height, width, channels) after each conv block for images of ``input_shape`` (height, width, channels).

        A "valid" conv whose kernel is larger than the feature map it gets, a network of more than
        ``MAX_PARAMETERS`` parameters on these images, or augmentation these images cannot take (``rotate90`` on
        images that are not square) fails with one line naming its key.
        """
        problem = self.augment.image_problem(input_shape) or self._backbone_problem(input_shape)
        if problem:
            raise KitError(f"recipe {self.name}: {problem}")
        height, width = input_shape[:2]
        maps = []
        for index, block in enumerate(self.model.blocks):
            for number, (_, kernel, stride, padding) in enumerate(block.conv_layout(), start=1):
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
            maps.append((height, width, block.conv_layout()[-1][0]))
        count = self.model.parameter_count(_channels(input_shape), height * width, classes=2)
        if count > MAX_PARAMETERS:
            shape = "×".join(str(size) for size in input_shape)
            raise KitError(
                f"recipe {self.name}: key model: {count:,} parameters on {shape} images, more than the "
                f"{MAX_PARAMETERS:,} kit allows; use fewer filters or units, or pool more before a flatten head"
            )
        return maps

    def _backbone_problem(self, input_shape: tuple[int, ...]) -> str | None:
        """Why the backbone cannot take these images or read its weights (a file not there), or None."""
        backbone = self.model.backbone
        if backbone is None:
            return None
        problem = weights_source(backbone).problem
        return backbone.size_problem(input_shape) or (problem and f"key model.backbone.weights: {problem}")

    def parameter_count(self, input_shape: tuple[int, ...], classes: int) -> int:
        """Keras' ``count_params()`` of this recipe's model for ``input_shape`` images and ``classes`` classes."""
        maps = self.feature_maps(input_shape)
        height, width = maps[-1][:2] if maps else input_shape[:2]
        return self.model.parameter_count(_channels(input_shape), height * width, classes)

    @property
    def content_hash(self) -> str:
        """A short hash of everything that changes training (not the name, description or tuning space)."""
        training = {name: value for name, value in dataclasses.asdict(self).items() if name in HASHED}
        for table, later in LATER_KEYS.items():  # keys added later count only when set: old runs still resume
            for name, default in later.items():
                if name in training[table] and training[table][name] == default:
                    training[table].pop(name)
        schedule = self.train.schedule
        training["train"]["schedule"] = {
            "kind": schedule.kind,
            **{name: getattr(schedule, name) for name in SETTING_NAMES},
        }
        return hashlib.sha256(json.dumps(training, sort_keys=True).encode()).hexdigest()[:12]

    def table(self) -> dict[str, Any]:
        """The recipe as a TOML table: a copy of its ``content``, or for a recipe built in Python its fields."""
        if self.content:
            return copy.deepcopy(self.content)
        fields = {name: value for name, value in dataclasses.asdict(self).items() if name not in {"name", "content"}}
        return json.loads(json.dumps(fields))

    def with_overrides(self, overrides: dict[str, Any]) -> Recipe:
        """A copy with keys replaced, re-validated; the name stays. Keys are dotted (``{"train.epochs": 3,
        "model.blocks.0.dropout": 0.5}``; numbers index lists) or nested tables (``{"train": {"epochs": 3}}``)."""
        try:
            check_depth(overrides)  # before the overrides are walked, recursively
        except KitError as error:
            raise KitError(f"recipe {self.name}: {error}") from None
        content = self.table()
        try:
            apply_overrides(content, overrides)
            return parse_recipe(content, self.name)
        except KitError as error:
            raise KitError(
                f"recipe {self.name}: {error}{_override_note(str(error), applied_keys(overrides))}"
            ) from None


def _channels(input_shape: tuple[int, ...]) -> int:
    return input_shape[2] if len(input_shape) > 2 else 1


def applied_keys(overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides as dotted keys (nested tables flattened, an empty one kept), for naming the one at fault."""
    return flatten_keys(overrides, is_value=lambda table: not table)


def _override_note(message: str, overrides: dict[str, Any]) -> str:
    """`` (override K=V)`` when the failing key is an overridden one (or inside or above it)."""
    found = re.match(r"key ([^:]+):", message)
    if not found:
        return ""
    failing = found.group(1)
    for key, value in overrides.items():
        if failing == key or failing.startswith(f"{key}.") or key.startswith(f"{failing}."):
            return f" (override {key if key.isprintable() else repr(key)}={value!r})"
    return ""


def parse_recipe(content: dict[str, Any], name: str) -> Recipe:
    """Validate a resolved recipe table (no ``extends`` left) into a :class:`Recipe`; errors read ``key a.b: …``."""
    check_depth(content)
    try:
        table = RECIPE_TABLE.validate_python(content)
    except ValidationError as error:
        raise first_problem(error, RecipeTable) from None
    tables = {field.name: getattr(table, field.name) for field in dataclasses.fields(table)}
    return Recipe(name=name, content=content, **tables)


def recipe_toml(recipe: Recipe) -> str:
    """The recipe's resolved table as TOML text (``extends`` applied, overrides included), headed by a comment with
    its name and content hash; loading the text gives the same recipe."""
    from kit.utils import toml_comments, toml_dumps

    try:
        text = toml_dumps(recipe.table())
    except (TypeError, ValueError) as error:
        raise KitError(f"recipe {recipe.name}: cannot be written as TOML ({error})") from None
    lines = [f"recipe {recipe.name}, content hash {recipe.content_hash}"]
    backbone = recipe.model.backbone
    if backbone is not None:
        lines.append(f"backbone {backbone.name} weights: {weights_source(backbone).describe()}")
    return toml_comments(lines) + text


def recipe_json_schema() -> dict[str, Any]:
    """A JSON Schema of recipe files (``extends``, ``description`` and ``[tune]`` included) for editors to check."""
    from kit.recipes._jsonschema import recipe_json_schema as build

    return build()
