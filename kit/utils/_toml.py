"""The one TOML writer (tomli-w) for every file kit writes — resolved recipes, tuned recipes, competition specs — and
for single values shown as TOML writes them.

TOML has no null, so a ``None`` setting is left out (the same as an absent key); tuples become arrays, numpy scalars
plain numbers, and with ``digits`` floats are rounded to that many significant digits (a stepped
0.30000000000000004 is written 0.3).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tomli_w

from kit.errors import KitError


def toml_tidy(value: Any, digits: int | None = None) -> Any:
    """``value`` as tomli-w writes it, all the way down: no None in tables, lists for tuples, plain numbers for numpy
    scalars, floats to ``digits`` significant digits when given."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and digits is not None:
        return float(f"{value:.{digits}g}")
    if isinstance(value, Mapping):
        return {key: toml_tidy(item, digits) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [toml_tidy(item, digits) for item in value]
    return value


def toml_dumps(table: Mapping[str, Any], digits: int | None = None) -> str:
    """A table as TOML text (see :func:`toml_tidy`); a value TOML cannot hold raises tomli-w's TypeError or
    ValueError."""
    return tomli_w.dumps(toml_tidy(table, digits))


def toml_value(value: Any, digits: int | None = None) -> str:
    """One value as TOML writes it: ``0.3``, ``128``, ``true``, ``"adam"``."""
    return tomli_w.dumps({"v": toml_tidy(value, digits)}).removeprefix("v = ").removesuffix("\n")


def toml_comments(lines: Iterable[str]) -> str:
    """``lines`` as TOML comments, one ``# line`` each."""
    return "".join(f"# {line}\n" for line in lines)


def read_toml(path: Path, where: str | None = None) -> dict[str, Any]:
    """The table of the TOML file ``path``; an unreadable file or invalid TOML is one line naming ``where`` (default
    the path)."""
    label = where or str(path)
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise KitError(f"{label}: invalid TOML ({error})") from None
    except RecursionError:
        raise KitError(f"{label}: invalid TOML (nested too deeply)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KitError(f"{label}: cannot read it ({error})") from None
