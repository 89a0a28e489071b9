"""The building blocks of the recipe format: strict TOML scalars, unions picked by the TOML kind of a value, the
frozen base table (a pydantic dataclass: no unknown keys, finite numbers, ``false`` clears an optional setting) and
cross-key errors."""

from __future__ import annotations

import dataclasses
import typing
from functools import cache
from typing import Annotated, Any, Union

import pydantic.dataclasses
from pydantic import ConfigDict, Discriminator, Strict, Tag, model_validator
from pydantic_core import PydanticCustomError

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]


def toml_shape(value: Any) -> str:
    """The TOML kind of a value, which picks the member of an :func:`either` union (``"other"`` fits none)."""
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "table" if isinstance(value, dict) or is_table(value) else "other"


def is_table(value: Any) -> bool:
    """Whether ``value`` is a recipe table (an instance of a :func:`spec` dataclass)."""
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def either(**members: Any) -> Any:
    """A union whose member is picked by the TOML kind of the value (``number=Int, list=tuple[Int, ...]``), so an error
    names the item at fault instead of every member's complaint."""
    tagged = tuple(Annotated[kind, Tag(shape)] for shape, kind in members.items())
    return Annotated[Union[tagged], Discriminator(toml_shape)]


def one_or_per_conv(kind: Any, shape: str) -> Any:
    """One value for every conv of a block, or a list with one value per conv."""
    return either(**{shape: kind, "list": tuple[kind, ...]})


def field_problem(field: str, message: str) -> PydanticCustomError:
    """An error found after the fields were validated; ``field`` is the dotted key, relative to the failing table."""
    return PydanticCustomError("kit_field", "{message}", {"field": field, "message": message})


CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)
spec = pydantic.dataclasses.dataclass(frozen=True, config=CONFIG)  # every recipe table: a frozen, validated dataclass


@spec
class Spec:
    """A recipe table: frozen, no unknown keys, finite numbers; ``false`` clears a setting that may be left out."""

    @model_validator(mode="before")
    @classmethod
    def _false_clears(cls, data: Any) -> Any:
        if isinstance(data, dict):
            optional = optional_fields(cls)
            data = {key: None if value is False and key in optional else value for key, value in data.items()}
        return data

    @classmethod
    def missing_hint(cls, name: str) -> str:
        """What a missing key means here: the table's ``MISSING`` hint for it, else its first docstring line."""
        hints = getattr(cls, "MISSING", {})
        return hints.get(name) or (cls.__doc__ or "").strip().splitlines()[0].replace("``", "`")

    @classmethod
    def unknown_hint(cls, name: str) -> str:
        return f"unknown key (known keys here: {', '.join(field_names(cls))})"


def field_names(cls: type) -> list[str]:
    return [field.name for field in dataclasses.fields(cls)]


@cache
def optional_fields(cls: type) -> frozenset[str]:
    """The fields of ``cls`` that may be ``None``."""
    hints = typing.get_type_hints(cls)
    return frozenset(name for name in field_names(cls) if type(None) in typing.get_args(hints[name]))
