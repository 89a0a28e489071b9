"""Options and wording shared by the commands: the ``--set KEY=VALUE`` recipe overrides, and library errors that
name arguments (``force=True``) reworded with the command's flags (``--force``)."""

from __future__ import annotations

import re
from typing import Any

from kit.errors import KitError

SET_HELP = "Override a recipe key, e.g. --set train.learning_rate=3e-3 (repeatable; dotted keys, TOML values)."


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """The ``--set KEY=VALUE`` items as dotted recipe overrides (values parsed as TOML by the recipe module)."""
    if not items:
        return {}
    from kit.recipes import parse_set

    return parse_set(items)


def as_flags(error: KitError, arguments: tuple[str, ...]) -> KitError:
    """A library error that names arguments (``force=True``, ``size=50``, ``tuner: …``) reworded with the command's
    flags (``--force``, ``--size 50``, ``--tuner: …``)."""
    message = str(error)
    for name in arguments:
        flag = "--" + name.replace("_", "-")
        message = message.replace(f"pass {name}=True", f"rerun with {flag}")
        message = re.sub(rf"(?<![\w.-]){name}=True\b", flag, message)
        message = re.sub(rf"(?<![\w.-]){name}=(?=\S)", f"{flag} ", message)
        message = re.sub(rf"^{name}:", f"{flag}:", message)
        message = message.replace(f"another {name} folder", f"another {flag} folder")
    return KitError(message)
