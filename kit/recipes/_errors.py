"""Turn a pydantic validation error of a recipe table into kit's one line: ``key a.b: <what is wrong>``.

The error's location is walked through the models of :mod:`kit.recipes._schema` to name the key (union tags dropped),
the table it belongs to (for missing and unknown keys) and its type (for "expected …, got …").
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import Tag, ValidationError
from pydantic_core import ErrorDetails

from kit.errors import KitError
from kit.recipes._types import Spec, field_names
from kit.utils import dotted_key, split_key

BOUNDS = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<", "less_than_equal": "≤"}
BOUND_NAMES = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")
SCALARS = {int: "an integer", float: "a number", bool: "true or false", str: "a string", typing.Any: "a value"}


def key_part(part: Any) -> str:
    """One part of a dotted key as written: bare when it may be, else quoted as TOML quotes it (never a line break)."""
    text = str(part)
    return text if BARE_KEY.fullmatch(text) else json.dumps(text, ensure_ascii=False)


def unwrap(kind: Any) -> tuple[Any, bool]:
    """``kind`` without ``Annotated`` and ``None``: the plain type (or a union of several), and whether None fits."""
    while typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    if typing.get_origin(kind) in (Union, types.UnionType):
        members = [member for member in typing.get_args(kind) if member is not type(None)]
        optional = len(members) < len(typing.get_args(kind))
        if len(members) == 1:
            inner, _ = unwrap(members[0])
            return inner, optional
        return Union[tuple(members)], optional
    return kind, False


def members(kind: Any) -> dict[str, Any]:
    """The members of a tagged union by tag (empty for any other type)."""
    if typing.get_origin(kind) is not Union:
        return {}
    tagged = {}
    for member in typing.get_args(kind):
        tags = [note.tag for note in getattr(member, "__metadata__", ()) if isinstance(note, Tag)]
        if tags:
            tagged[tags[0]] = member
    return tagged


def type_name(kind: Any) -> str:
    """How a recipe type reads in an error: ``an integer``, ``one of 'a', 'b'``, ``a list``, ``a table or false``."""
    plain, optional = unwrap(kind)
    tagged = members(plain)
    names = [type_name(member) for member in tagged.values()] if tagged else [_plain_name(plain)]
    return " or ".join(dict.fromkeys(names + (["false"] if optional else [])))


def _plain_name(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin is Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(kind))
    if origin in (tuple, list):
        return "a list"
    if origin is dict or _is_table_class(kind):
        return "a table"
    return SCALARS.get(kind, str(kind))


@dataclass(frozen=True)
class Place:
    """Where an error points: the dotted key, the table holding it, the key's type and whether the error is about the
    key's value as a whole (not an item inside it)."""

    key: str
    table: type | None
    field: str
    kind: Any
    whole: bool


def locate(root: type, loc: tuple[Any, ...]) -> Place:
    """Walk ``loc`` (pydantic's error location) from ``root``: keys are kept, union tags dropped."""
    parts: list[str] = []
    kind: Any = root
    table, field, field_kind, whole = None, "", root, True
    for part in loc:
        plain, _ = unwrap(kind)
        tagged = members(plain)
        if isinstance(part, str) and part in tagged:
            kind = tagged[part]
            continue
        parts.append(key_part(part))
        if _is_table_class(plain):
            hints = typing.get_type_hints(plain, include_extras=True)
            table, field = plain, str(part)
            kind = field_kind = hints.get(field) if field in field_names(plain) else None
            whole = True
            continue
        whole = False
        origin = typing.get_origin(plain)
        kind = typing.get_args(plain)[0] if origin in (tuple, list) else typing.Any
    return Place(dotted_key(parts), table, field, field_kind if whole else kind, whole)


def shown(value: Any, limit: int = 80) -> str:
    """A value's repr, cut to ``limit`` characters so that a huge table still makes a short line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _number(value: Any, bound: Any) -> Any:
    """A value as the recipe holds it: an integer given for a float setting is that float (``0`` → ``0.0``)."""
    if isinstance(bound, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def describe(error: ErrorDetails, root: type) -> str:
    """One pydantic error as ``key a.b: message``."""
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    context = error.get("ctx") or {}
    if kind == "kit_field":
        loc = (*loc, *[part for part in split_key(context["field"]) if part])
    place = locate(root, loc)
    key = place.key or "top level"
    if kind == "kit_field":
        return f"key {key}: {context['message']}"
    if kind == "missing":
        hint = place.table.missing_hint(place.field) if _is_spec(place.table) else "required"
        return f"key {key}: missing; {hint}"
    if kind in UNKNOWN:
        hint = place.table.unknown_hint(place.field) if _is_spec(place.table) else "unknown key"
        return f"key {key}: {hint}"
    if kind in BOUNDS:
        bound = context[BOUND_NAMES[kind]]
        return f"key {key}: {_number(value, bound)} must be {BOUNDS[kind]} {bound}"
    if kind == "finite_number":
        return f"key {key}: {value} is not a finite number; give a number such as 0.1"
    if kind in ("string_too_short", "string_too_long"):
        size = "short" if kind.endswith("short") else "long"
        return f"key {key}: {shown(value)} is too {size} ({error['msg'].lower()})"
    if kind in ("too_long", "too_short"):
        limit = "most" if kind == "too_long" else "least"
        count = context.get("max_length", context.get("min_length"))
        return f"key {key}: at {limit} {count} items, got {len(value)}"
    kinds = _tags(place)
    if kind in ("union_tag_invalid", "union_tag_not_found") and isinstance(value, dict) and kinds:
        return f"key {key}.kind: {shown(value.get('kind'))} is not one of {', '.join(map(repr, kinds))}"
    plain, optional = unwrap(place.kind)
    if place.whole and (optional or members(plain)):
        return f"key {key}: expected {type_name(place.kind)}, got {shown(value)}"
    if kind == "literal_error":
        return f"key {key}: {shown(value)} is not {type_name(place.kind)}"
    if kind.endswith("_type") or kind.startswith(("union_tag", "dataclass_", "dict_", "int_", "string_", "bool_")):
        return f"key {key}: expected {type_name(place.kind)}, got {shown(value)}"
    return f"key {key}: {shown(value)} is not valid ({error['msg']})"


def _is_table_class(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def _is_spec(table: Any) -> bool:
    return isinstance(table, type) and issubclass(table, Spec)


def _tags(place: Place) -> list[str]:
    """The kinds of a schedule-like union (tags that name a ``kind``), else nothing."""
    plain, _ = unwrap(place.kind)
    tagged = members(plain)
    has_kind = tagged and all(
        _is_table_class(unwrap(m)[0]) and "kind" in field_names(unwrap(m)[0]) for m in tagged.values()
    )
    return list(tagged) if has_kind else []


def first_problem(error: ValidationError, root: type) -> KitError:
    """The error to report, as a KitError: an unknown key first (a typo there often explains a missing key)."""
    problems = sorted(error.errors(include_url=False), key=lambda problem: problem["type"] not in UNKNOWN)
    return KitError(describe(problems[0], root))
