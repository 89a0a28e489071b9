"""The recipe format as a JSON Schema (from the pydantic models of :mod:`kit.recipes._schema`), so that editors with a
TOML language server (taplo, Even Better TOML) complete and check recipes as they are typed.

TOML has no null, so where the models take ``None`` the schema takes ``false``. A recipe with ``extends`` holds only
the keys it changes, and may address list items by index (``[model.blocks.1]``): it is checked against a relaxed copy
of the tables (no required keys, numbered tables for list items).
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import TypeAdapter

from kit.recipes._schedules import SCHEDULES, SETTING_NAMES
from kit.recipes._schema import RecipeTable

DRAFT = "http://json-schema.org/draft-07/schema#"
ROOT, PARTIAL = "Recipe", "Partial"
EXTENDS = {
    "type": "string",
    "minLength": 1,
    "description": "The recipe this one changes: a name on the recipe search path, or a path to a .toml file "
    "(relative to this file's folder).",
}


def recipe_json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 7) of recipe files: full recipes, and recipes that ``extends`` another."""
    generated = TypeAdapter(RecipeTable).json_schema()
    definitions = generated.pop("$defs", {})
    definitions[ROOT] = generated
    definitions = {name: _toml(schema) for name, schema in definitions.items()}
    for cls in SCHEDULES:  # a child may clear its parent's settings of another kind with false
        properties = definitions[cls.__name__].setdefault("properties", {})
        for name in SETTING_NAMES:
            properties.setdefault(name, {"const": False, "description": f"{name} belongs to another kind: only false"})
    partial = {f"{name}{PARTIAL}": _relaxed(schema) for name, schema in definitions.items()}
    partial[f"{ROOT}{PARTIAL}"]["properties"]["extends"] = EXTENDS
    partial[f"{ROOT}{PARTIAL}"]["required"] = ["extends"]
    return {
        "$schema": DRAFT,
        "title": "kit recipe",
        "description": "A kit recipe: a CNN, its training, cross-validation, augmentation and callbacks, and an "
        "optional [tune] search space. Add `#:schema ./recipe.schema.json` at the top of a recipe to use it.",
        "type": "object",
        "properties": partial[f"{ROOT}{PARTIAL}"]["properties"],  # for completion; the branches below check
        "if": {"required": ["extends"]},
        "then": {"$ref": f"#/$defs/{ROOT}{PARTIAL}"},
        "else": {"$ref": f"#/$defs/{ROOT}"},
        "$defs": {**definitions, **partial},
    }


def _toml(node: Any) -> Any:
    """The generated schema for TOML: ``false`` where it says null, no null defaults, references to ``$defs`` kept."""
    if isinstance(node, list):
        return [_toml(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node == {"type": "null"}:
        return {"const": False}
    return {key: _toml(value) for key, value in node.items() if not (key == "default" and value is None)}


def _relaxed(node: Any) -> Any:
    """A copy for recipes that extend another: nothing required, one-of choices as any-of, tables of lists also
    given as numbered tables (``{"1": {...}}`` changes item 1), references to the relaxed copies."""
    if isinstance(node, list):
        return [_relaxed(item) for item in node]
    if not isinstance(node, dict):
        return node
    relaxed = {}
    for key, value in node.items():
        if key == "required":
            continue
        if key == "$ref":
            relaxed[key] = f"{value}{PARTIAL}"
        else:
            relaxed["anyOf" if key == "oneOf" else key] = _relaxed(value)
    if node.get("type") == "array" and isinstance(node.get("items"), dict) and "$ref" in node["items"]:
        whole = copy.deepcopy(_restored_refs(relaxed))  # a list given whole replaces the parent's: full items
        numbered = {
            "type": "object",
            "patternProperties": {"^[0-9]+$": {"$ref": f"{node['items']['$ref']}{PARTIAL}"}},
            "additionalProperties": False,
        }
        return {"anyOf": [whole, numbered]}
    return relaxed


def _restored_refs(node: Any) -> Any:
    if isinstance(node, list):
        return [_restored_refs(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {key: value.removesuffix(PARTIAL) if key == "$ref" else _restored_refs(value) for key, value in node.items()}
