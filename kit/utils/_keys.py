"""Dotted keys over nested TOML tables: ``train.learning_rate`` names ``{"train": {"learning_rate": …}}`` and a numeric
part indexes a list (``model.blocks.0.dropout``). The one place that joins, reads, sets, flattens, nests and merges
them — for recipe overrides and ``extends``, ``[tune]`` keys, tuned recipe files and competition spec settings.

Errors are one line naming the key: ``{label} {key}: …`` (``label`` is ``"key"`` unless a caller names it otherwise).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kit.errors import KitError


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # what :func:`get_dotted` returns for a key that names nothing


def join_key(prefix: str, part: Any) -> str:
    """``prefix.part`` (just ``part`` without a prefix)."""
    return f"{prefix}.{part}" if prefix else str(part)


def split_key(key: str) -> list[str]:
    """The parts of a dotted key."""
    return key.split(".")


def dotted_key(parts: Iterable[Any]) -> str:
    """The dotted key of these parts (the inverse of :func:`split_key`)."""
    return ".".join(str(part) for part in parts)


def list_index(node: list, part: Any, key: str, label: str = "key") -> int:
    """``part`` as an index of ``node``, failing with the key if it is not one."""
    part = str(part)
    if not part.isdigit() or int(part) >= len(node):
        raise KitError(f"{label} {key}: {part!r} is not an index of a list of {len(node)}")
    return int(part)


def table_child(node: Any, part: str) -> Any:
    """The item of a table, or of a list by index, at one key part; MISSING if there is none."""
    if isinstance(node, Mapping) and part in node:
        return node[part]
    if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return MISSING


def get_dotted(node: Any, key: str, child: Callable[[Any, str], Any] = table_child) -> Any:
    """The value at a dotted key, or MISSING; ``child`` takes one step (default: into tables and lists)."""
    for part in split_key(key):
        node = child(node, part)
        if node is MISSING:
            break
    return node


def set_dotted(table: dict[str, Any], key: str, value: Any, label: str = "key") -> None:
    """Set ``value`` at a dotted ``key``, making the tables on the way; numeric parts index existing lists. A key with
    no place (past a value, or not an index of a list) fails with one line naming it."""
    *parents, last = split_key(key)
    node: Any = table
    for part in parents:
        if isinstance(node, list):
            node = node[list_index(node, part, key, label)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise KitError(f"{label} {key}: {part!r} is not inside a table")
    if isinstance(node, list):
        node[list_index(node, last, key, label)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise KitError(f"{label} {key}: {dotted_key(parents)} is not a table")


def flatten_keys(
    table: Mapping[str, Any], prefix: str = "", is_value: Callable[[Mapping[str, Any]], bool] = lambda table: False
) -> dict[str, Any]:
    """Nested tables as dotted keys: ``{"train": {"epochs": 3}}`` → ``{"train.epochs": 3}``. A table for which
    ``is_value`` holds stays a value (an empty one otherwise leaves no key)."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = join_key(prefix, key)
        if isinstance(value, Mapping) and not is_value(value):
            flat.update(flatten_keys(value, dotted, is_value))
        else:
            flat[dotted] = value
    return flat


def nest_keys(values: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys as nested tables: ``{"model.blocks.0.dropout": 0.2}`` → ``{"model": {"blocks": {"0": {…}}}}``.

    A recipe that ``extends`` another reads a table with numeric keys as overrides of list items by index. A later key
    inside an earlier key's table or list (``"train": {…}`` then ``"train.epochs"``) is set inside a copy of it.
    """
    tables: dict[str, Any] = {}
    for key, value in values.items():
        set_dotted(tables, key, copy.deepcopy(value))
    return tables


def merge_tables(base: Any, override: Any, key: str = "") -> Any:
    """Deep-merge ``override`` into ``base``; a table with numeric keys overrides list items by index."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            merged[name] = merge_tables(base[name], value, join_key(key, name)) if name in base else value
        return merged
    if isinstance(base, list) and isinstance(override, dict):
        merged = list(base)
        for index, value in override.items():
            position = list_index(merged, index, join_key(key, index))
            merged[position] = merge_tables(merged[position], value, join_key(key, index))
        return merged
    return override
