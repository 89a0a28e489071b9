"""Recipe files: the search path (``$KIT_RECIPES``, ``./recipes``, the shipped ones), finding a recipe by name or path,
``extends`` merged into one table, loading it as a checked :class:`Recipe`, and listing every recipe."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.errors import KitError
from kit.recipes._keys import check_depth
from kit.recipes._load import (
    RECIPE_SUFFIX,
    Recipe,
    parse_recipe,
)
from kit.utils import merge_tables, read_toml


def search_path() -> list[Path]:
    """Folders searched for ``NAME.toml``: ``$KIT_RECIPES`` (``:``-separated), ``./recipes``, the shipped recipes."""
    folders = [Path(part) for part in os.environ.get("KIT_RECIPES", "").split(os.pathsep) if part]
    return [*folders, Path("recipes"), shipped_recipes()]


def shipped_recipes() -> Path:
    """The recipes that ship inside the package (a wheel carries them as package data)."""
    from importlib.resources import files

    return Path(str(files("kit.recipes") / "shipped"))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte
        return False


def find_recipe(reference: str, near: Path | None = None) -> Path:
    """The file a recipe reference names: a path to a ``.toml`` file (relative to ``near`` when given, the folder of
    the recipe that extends it), or a name looked up in ``near`` and then on the search path."""
    if reference.endswith(RECIPE_SUFFIX) or os.sep in reference or "/" in reference:
        path = Path(reference).expanduser()
        if near is not None and not path.is_absolute():
            path = near / path
        if not _is_file(path):
            shown = reference if reference.isprintable() else repr(reference)
            raise KitError(f"recipe {shown}: file not found" + (f" (looked in {near})" if near else ""))
        return path
    folders = ([near] if near else []) + search_path()
    for folder in folders:
        candidate = folder / f"{reference}{RECIPE_SUFFIX}"
        if _is_file(candidate):
            return candidate
    known = sorted({path.stem for folder in folders if folder.is_dir() for path in folder.glob(f"*{RECIPE_SUFFIX}")})
    raise KitError(f"recipe {reference!r} not found; known recipes: {', '.join(known) or 'none'}")


def _read_toml(path: Path) -> dict[str, Any]:
    content = read_toml(path, f"recipe {path}")
    try:
        check_depth(content)  # before extends merges it and validation walks it, both recursively
    except KitError as error:
        raise KitError(f"recipe {path}: {error}") from None
    return content


def read_recipe_content(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a recipe file and resolve its ``extends`` chain into one table (the parent's description is dropped)."""
    path = path.resolve()
    if path in seen:
        raise KitError(f"recipe {path.name}: extends itself through {' → '.join(p.stem for p in (*seen, path))}")
    content = _read_toml(path)
    parent = content.pop("extends", None)
    if parent is None:
        return content
    if not isinstance(parent, str) or not parent.strip():
        raise KitError(
            f"recipe {path.name}: key extends must be a recipe name or a path to a .toml file, got {parent!r}"
        )
    try:
        parent_path = find_recipe(parent, near=path.parent)
    except KitError as error:
        raise KitError(f"recipe {path}: key extends: {error}") from None
    base = read_recipe_content(parent_path, (*seen, path))
    base.pop("description", None)
    try:
        return merge_tables(base, content)
    except KitError as error:
        raise KitError(f"recipe {path}: {error} (extending {parent})") from None


def load_recipe(reference: str) -> Recipe:
    """Load a recipe by name (in ``$KIT_RECIPES``, ``./recipes``, the shipped ones) or path, resolving ``extends``."""
    path = find_recipe(reference)
    content = read_recipe_content(path)
    try:
        return parse_recipe(content, path.stem)
    except KitError as error:
        raise KitError(f"recipe {path}: {error}") from None


@dataclass(frozen=True)
class RecipeEntry:
    """One recipe on the search path: its name, file, the folder it comes from and its own description."""

    name: str
    path: Path
    origin: str
    description: str
    shadows: tuple[Path, ...] = ()


def list_recipes() -> list[RecipeEntry]:
    """Every recipe name on the search path, first folder first (a recipe in ``./recipes`` shadows a shipped one)."""
    shipped = shipped_recipes()
    entries: dict[str, RecipeEntry] = {}
    for folder in search_path():
        if not folder.is_dir():
            continue
        origin = "shipped" if folder == shipped else str(folder)
        for path in sorted(folder.glob(f"*{RECIPE_SUFFIX}")):
            if path.stem in entries:
                entry = entries[path.stem]
                entries[path.stem] = RecipeEntry(**{**entry.__dict__, "shadows": (*entry.shadows, path)})
                continue
            entries[path.stem] = RecipeEntry(path.stem, path, origin, _description(path))
    return sorted(entries.values(), key=lambda entry: entry.name)


def _description(path: Path) -> str:
    try:
        description = _read_toml(path).get("description", "")
    except KitError as error:
        return f"(unreadable: {str(error).removeprefix(f'recipe {path}: ')})"
    return description if isinstance(description, str) else ""
