"""The tuned recipe file ``<recipe>-tuned.toml`` a search leaves: written by kit's one TOML writer under a header that
names the search, signed by a hash line so that a file edited by hand is never overwritten unless ``force=True``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kit.errors import KitError
from kit.recipes import find_recipe, load_recipe
from kit.utils import toml_comments, toml_dumps, write_bytes_atomic

HASH_LINE = "# kit-tune-hash: "
SIGNIFICANT_DIGITS = 10  # a stepped 0.30000000000000004 is written 0.3


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def toml_text(table: Mapping[str, Any]) -> str:
    """A recipe table as TOML (kit's one writer), floats to 10 significant digits, unset (None) keys left out."""
    return toml_dumps(table, SIGNIFICANT_DIGITS)


def tuned_recipe_text(content: Mapping[str, Any], comments: Sequence[str]) -> str:
    """The file: the hash line, ``comments`` as ``#`` lines, then ``content`` as TOML (:func:`toml_text`)."""
    body = toml_comments(comments) + "\n" + toml_text(content)
    return f"{HASH_LINE}{_digest(body)}\n{body}"


def recipe_reference(path: Path, near: Path | None = None) -> tuple[str, str | None]:
    """How a recipe in ``near`` names the recipe file ``path``: its name when the recipe search (from ``near`` first)
    finds this very file, else its absolute path — with a note saying why the name would not do."""
    try:
        found = find_recipe(path.stem, near=near)
    except KitError:
        found = None
    if found is not None and found.resolve() == path.resolve():
        return path.stem, None
    where = f"from {near}" if near else "on the recipe search path"
    why = "is not found by name" if found is None else f"names another file ({found})"
    return str(path.resolve()), f"recipe {path.stem} {why} {where}, so it is referred to by its path {path.resolve()}"


def written_by_kit(path: Path) -> bool:
    """Whether ``path`` is a tuned recipe exactly as kit wrote it (its hash line matches the rest of the file)."""
    first, _, body = path.read_text(encoding="utf-8").partition("\n")
    return first.startswith(HASH_LINE) and first.removeprefix(HASH_LINE) == _digest(body)


def check_overwritable(path: Path, force: bool) -> None:
    """Refuse to replace a file kit did not write as it stands (a hand-edited tuned recipe) unless ``force``."""
    if path.exists() and not force and not written_by_kit(path):
        raise KitError(
            f"{path} was edited by hand (or not written by kit tune), so kit keeps it (move it away, or overwrite it)",
            fix=("force", True),
        )


def write_tuned_recipe(path: Path, text: str, force: bool) -> None:
    """Write the tuned recipe atomically, checking again that no hand edit is lost; it must load as a recipe."""
    check_overwritable(path, force)
    write_bytes_atomic(path, text.encode())
    load_recipe(str(path))
