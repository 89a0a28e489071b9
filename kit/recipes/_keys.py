"""Recipe overrides: dotted keys (``model.blocks.0.dropout``) or nested tables set into a recipe's TOML table, and the
``KEY=VALUE`` items of the command line's ``--set`` parsed into them (values are TOML)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from kit.errors import KitError

KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.+:/-]*")  # taken as a string when it is not a TOML value
MISSING = object()


def join(prefix: str, key: Any) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def index_of(node: list, part: Any, key: str) -> int:
    """``part`` as an index of ``node``, failing with the key if it is not one."""
    part = str(part)
    if not part.isdigit() or int(part) >= len(node):
        raise KitError(f"key {key}: {part!r} is not an index of a list of {len(node)}")
    return int(part)


def set_dotted(content: dict[str, Any], key: str, value: Any) -> None:
    """Set ``value`` at a dotted ``key`` whose numeric parts index lists, failing with the key if it has no place."""
    if not KEY.fullmatch(key):
        raise KitError(f"key {key!r}: not a dotted recipe key such as train.learning_rate or model.blocks.0.dropout")
    *parents, last = key.split(".")
    node: Any = content
    for part in parents:
        node = _child(node, part, key)
    if isinstance(node, list):
        node[index_of(node, last, key)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise KitError(f"key {key}: {'.'.join(parents)} is not a table")


def _child(node: Any, part: str, key: str) -> Any:
    if isinstance(node, list):
        return node[index_of(node, part, key)]
    if isinstance(node, dict):
        return node.setdefault(part, {})
    raise KitError(f"key {key}: {part!r} is not inside a table")


def _lookup(content: dict[str, Any], key: str) -> Any:
    """The value at a dotted key, or MISSING."""
    node: Any = content
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def _plain(value: Any) -> Any:
    """A value as TOML would hold it: tables as dicts, sequences (not strings) as lists."""
    if isinstance(value, Mapping):
        return {str(name): _plain(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def apply_overrides(content: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Set ``overrides`` into a recipe table in place. A table given for a key that holds a table (or a list) is set
    key by key, so ``{"train": {"epochs": 3}}`` keeps the other train keys, as ``{"train.epochs": 3}`` does."""
    for key, value in overrides.items():
        _apply(content, str(key), value)


def _apply(content: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, Mapping) and isinstance(_lookup(content, key), (dict, list)):
        for name, item in value.items():
            _apply(content, join(key, name), item)
        return
    set_dotted(content, key, _plain(value))


def parse_set(items: Iterable[str]) -> dict[str, Any]:
    """``["train.learning_rate=3e-3", "augment.fill_mode=nearest"]`` → ``{"train.learning_rate": 0.003, ...}``.

    Values are TOML (``3``, ``0.5``, ``true``, ``"text"``, ``[3, 5]``, ``{ units = 64 }``); a bare word that is not
    TOML is a string. A later item for the same key wins. A malformed item fails with one line naming it.
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, equals, text = str(item).partition("=")
        key, text = key.strip(), text.strip()
        if not equals or not KEY.fullmatch(key):
            raise KitError(
                f"override {item!r}: expected KEY=VALUE with a dotted recipe key, e.g. train.learning_rate=3e-3"
            )
        if not text:
            raise KitError(f"override {item!r}: no value after '='; e.g. {key}=0.1, {key}=true or {key}=\"text\"")
        overrides[key] = _toml_value(text, item)
    return overrides


def _toml_value(text: str, item: str) -> Any:
    if "\n" not in text and "\r" not in text:
        try:
            return tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            pass
        except RecursionError:
            raise KitError(f"override {item!r}: the value is nested too deeply") from None
        if BARE_WORD.fullmatch(text):
            return text
    raise KitError(
        f'override {item!r}: {text!r} is not a TOML value; quote strings ("text"), write lists as [3, 5] '
        "and tables as { units = 64 }"
    )
