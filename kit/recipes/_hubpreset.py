"""KerasHub presets as a backbone's weights (``name = "hub:<preset or class>"``), found and checked on this machine's
files without TensorFlow or keras-hub: a preset folder (``config.json``, ``metadata.json``, ``model.weights.h5``, as
``save_to_preset`` writes it), or a folder holding exactly one (a Kaggle model attached under ``/kaggle/input``).

Downloads are the recipe's own choice: ``weights = "download"`` (KerasHub's handle for the named preset) or an explicit
``kaggle://`` / ``hf://`` handle. The engine (:mod:`kit.engine._hub`) builds the backbone from what is found here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

HUB_PREFIX = "hub:"
HUB_PATTERN = r"^hub:[A-Za-z0-9][A-Za-z0-9_.\-]*$"
DOWNLOAD = "download"  # weights: KerasHub downloads the preset named after hub: (its Kaggle handle)
HANDLE_SCHEMES = ("kaggle://", "hf://")  # weights: an explicit handle KerasHub downloads
PRESET_CONFIG, PRESET_METADATA = "config.json", "metadata.json"
_FOUND: dict[str, Path] = {}  # folder → the one preset found below it
HUB_WEIGHTS = "a KerasHub preset folder (or one holding it: /kaggle/input/<model>), a kaggle:// or hf:// handle"


def hub_target(name: str) -> str | None:
    """The preset or class a ``hub:`` name gives (``hub:resnet_50_imagenet`` → ``resnet_50_imagenet``), else None."""
    return name.removeprefix(HUB_PREFIX) if name.startswith(HUB_PREFIX) else None


def is_class_name(target: str) -> bool:
    """Whether a hub target names a backbone class (``ResNetBackbone``, ``ResNet``), not a preset (lower case)."""
    return target[:1].isupper()


def class_matches(target: str, class_name: str) -> bool:
    """Whether the backbone class ``class_name`` is the class ``target`` names, with or without ``Backbone``."""
    return class_name in (target, f"{target}Backbone")


def is_handle(weights: str) -> bool:
    return weights.startswith(HANDLE_SCHEMES)


def weights_problem(target: str, weights: str | None) -> str | None:
    """Why ``weights`` cannot give a ``hub:`` backbone its preset, decided from the recipe alone, or None."""
    if weights is None:
        return f"missing; hub:{target} takes its architecture from a KerasHub preset: give {HUB_WEIGHTS}"
    if weights == DOWNLOAD and is_class_name(target):
        return f"'download' needs a preset name (e.g. hub:resnet_50_imagenet), not the class {target}"
    if weights == "imagenet":
        return f"'imagenet' is for Keras applications; for hub:{target} give {HUB_WEIGHTS}"
    return None


def find_preset(folder: Path) -> tuple[Path, str | None]:
    """The preset folder in ``folder``: itself when it holds ``config.json``, else the only folder below it holding
    ``config.json`` and ``metadata.json``; with why there is none (one line naming ``folder``)."""
    if (folder / PRESET_CONFIG).is_file():
        return folder, None
    if str(folder) in _FOUND:  # a search under /kaggle/input is made once (only a find is kept: a fix is seen)
        return _FOUND[str(folder)], None
    try:
        found = sorted(p.parent for p in folder.rglob(PRESET_CONFIG) if (p.parent / PRESET_METADATA).is_file())
    except OSError as error:
        return folder, f"{folder}: cannot read it ({error.strerror or error})"
    if len(found) == 1:
        _FOUND[str(folder)] = found[0]
        return found[0], None
    if not found:
        return folder, f"{folder} holds no KerasHub preset ({PRESET_CONFIG} with {PRESET_METADATA}: save_to_preset's)"
    shown = ", ".join(str(path) for path in found[:3]) + (", …" if len(found) > 3 else "")
    return folder, f"{folder} holds {len(found)} KerasHub presets ({shown}); give the preset's own folder"


def _json(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def preset_class(preset: Path) -> tuple[str, str | None]:
    """The backbone class of the preset in ``preset`` (its ``config.json``), with why it is no KerasHub backbone."""
    try:
        class_name = str(_json(preset / PRESET_CONFIG).get("class_name", ""))
    except (OSError, ValueError) as error:
        return "", f"{preset}: its {PRESET_CONFIG} cannot be read ({error}); give a KerasHub preset folder"
    if not class_name.endswith("Backbone"):
        return class_name, f"{preset}: holds {class_name or 'no class'}, not a KerasHub backbone preset"
    return class_name, None


def check_preset(target: str, folder: Path) -> tuple[Path, str | None]:
    """The preset folder for ``hub:<target>`` in ``folder``, with why it does not fit: none there, unreadable, not a
    backbone, or (``target`` a class) a backbone of another class."""
    preset, problem = find_preset(folder)
    if problem:
        return preset, problem
    class_name, problem = preset_class(preset)
    if problem:
        return preset, problem
    if is_class_name(target) and not class_matches(target, class_name):
        return preset, f"{preset}: holds a {class_name} preset, not {target}; give a {target} preset or change the name"
    return preset, None


@lru_cache(maxsize=64)
def preset_parameters(preset: str) -> int:
    """The backbone's parameter count ``save_to_preset`` recorded in ``metadata.json``; 0 when unknown."""
    try:
        count = _json(Path(preset) / PRESET_METADATA).get("parameter_count", 0)
    except (OSError, ValueError):
        return 0
    return count if isinstance(count, int) and not isinstance(count, bool) else 0
