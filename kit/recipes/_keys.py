"""Recipe overrides: dotted keys (``model.blocks.0.dropout``) or nested tables set into a recipe's TOML table, and the
``KEY=VALUE`` items of the command line's ``--set`` parsed into them (values are TOML). The keys themselves are walked
by :mod:`kit.utils._keys`."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from kit.errors import KitError
from kit.utils import get_dotted, join_key, set_dotted

KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.+:/-]*")  # taken as a string when it is not a TOML value


MAX_DEPTH = 32  # tables and lists inside each other; a recipe needs about 5, and Python's recursion about 1,000


def too_deep(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """The dotted key (cut after a few parts) of the first value nested more than ``limit`` tables or lists deep in
    ``value``, or None. It walks without recursion, so any depth (or a table that holds itself) is safe to check."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, Mapping):
            children = list(item.items())
        elif isinstance(item, (list, tuple)):
            children = list(enumerate(item))
        else:
            continue
        if len(path) > limit:
            return ".".join(_shown_part(part) for part in path[:4]) + "…"
        stack.extend((child, (*path, str(name))) for name, child in children)
    return None


def check_depth(value: Any) -> None:
    """A one-line error naming the key where ``value`` nests tables or lists more than :data:`MAX_DEPTH` deep."""
    key = too_deep(value)
    if key is not None:
        raise KitError(f"key {key}: nested more than {MAX_DEPTH} tables or lists deep; a recipe needs far fewer")


def _shown_part(part: str) -> str:
    return part if KEY.fullmatch(part) else repr(part[:40])


def check_key(key: str) -> str:
    """``key`` if it is a dotted recipe key, else a one-line error."""
    if not KEY.fullmatch(key):
        raise KitError(f"key {key!r}: not a dotted recipe key such as train.learning_rate or model.blocks.0.dropout")
    return key


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
    if isinstance(value, Mapping) and isinstance(get_dotted(content, key), (dict, list)):
        for name, item in value.items():
            _apply(content, join_key(key, name), item)
        return
    set_dotted(content, check_key(key), _plain(value))


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
