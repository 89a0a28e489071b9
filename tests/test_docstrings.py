"""Every Sphinx-style reference in kit's docstrings (:func:`…`, :class:`…`, :mod:`…`, :meth:`…`) names something
that exists, so a reader following one never lands nowhere."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r":(?:func|class|mod|meth|attr|data|exc):`~?([\w.]+)`")


def has(value: object, attribute: str) -> bool:
    fields = getattr(value, "__dataclass_fields__", {}) or getattr(value, "model_fields", {})
    return hasattr(value, attribute) or attribute in fields


def walk(value: object, path: list[str]) -> bool:
    for attribute in path:
        if not has(value, attribute):
            return False
        value = getattr(value, attribute, None)
    return True


def resolve(target: str, module: str) -> bool:
    """Whether ``target`` names an object: a dotted path from an importable module, or a name (``Name.attribute``) of
    ``module`` or of one of its classes (a method's docstring naming a sibling method)."""
    path = target.split(".")
    for split in range(len(path), 0, -1):
        try:
            value = importlib.import_module(".".join(path[:split]))
        except ImportError:
            continue
        return walk(value, path[split:])
    home = importlib.import_module(module)
    if walk(home, path):
        return True
    classes = [value for value in vars(home).values() if isinstance(value, type) and value.__module__ == module]
    return any(walk(cls, path) for cls in classes)


def references() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "kit").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found += [(module, target) for target in REFERENCE.findall(path.read_text())]
    return found


@pytest.mark.parametrize(("module", "target"), references())
def test_docstring_reference_resolves(module, target):
    assert resolve(target, module), f"{module}: `{target}` names nothing"
