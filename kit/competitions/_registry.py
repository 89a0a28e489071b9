"""Finding a competition's spec: by name on the search path (``$KIT_COMPETITIONS``, ``./competitions``, the shipped
specs), beside the data (``DATA/competition.toml``, which wins for that folder), or as a path; :func:`as_competition` is
the one conversion every step uses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kit.competitions._spec import BESIDE_DATA, DEFAULT_COMPETITION, SPEC_SUFFIX, USER_DIR, Competition, shipped_dir
from kit.competitions._specfile import load_spec
from kit.errors import KitError


def search_path() -> list[Path]:
    """Folders searched for ``NAME.toml``: ``$KIT_COMPETITIONS`` (``:``-separated), ``./competitions``, shipped."""
    folders = [Path(part) for part in os.environ.get("KIT_COMPETITIONS", "").split(os.pathsep) if part]
    return [*folders, USER_DIR, shipped_dir()]


def known_competitions() -> list[str]:
    """The names of every spec on the search path."""
    return sorted({path.stem for folder in search_path() if folder.is_dir() for path in folder.glob(f"*{SPEC_SUFFIX}")})


def get_competition(name: str) -> Competition:
    """The spec named ``name``: ``competitions/NAME.toml``, else ``data/NAME/competition.toml`` (the spec beside that
    competition's default data folder), else a shipped one; a name ending in ``.toml`` or holding a folder is a path."""
    if name.endswith(SPEC_SUFFIX) or os.sep in name:
        return load_spec(Path(name))
    folders = search_path()
    for candidate in (
        *(folder / f"{name}{SPEC_SUFFIX}" for folder in folders[:-1]),
        Path("data") / name / BESIDE_DATA,
        folders[-1] / f"{name}{SPEC_SUFFIX}",
    ):
        if candidate.is_file():
            return load_spec(candidate)
    raise KitError.invalid(
        "competition",
        f"one of {', '.join(known_competitions())}, or a spec file (competitions/{name}.toml, or competition.toml "
        "beside the data)",
        name,
    )


def find_competition_for(data_dir: Path | str | None) -> Competition | None:
    """The spec for a data folder: its ``competition.toml``, else the spec named like the folder, else None."""
    if data_dir is None:
        return None
    folder = Path(data_dir)
    beside = folder / BESIDE_DATA
    if beside.is_file():
        return load_spec(beside)
    if folder.name in known_competitions():
        return get_competition(folder.name)
    return None


def as_competition(competition: Competition | str | None = None, data_dir: Path | str | None = None) -> Competition:
    """The one conversion to a :class:`Competition`: a spec, a name, a spec file, or (for None) the spec of
    ``data_dir`` (its ``competition.toml``) else digit-recognizer. A ``competition.toml`` beside the data wins for that
    folder over the default name; a different explicit name fails, since the data cannot be in two formats."""
    if isinstance(competition, Competition):
        return competition
    if competition is not None and (competition.endswith(SPEC_SUFFIX) or os.sep in competition):
        return get_competition(competition)
    beside = find_competition_for(data_dir)
    if beside is not None and Path(beside.source).name == BESIDE_DATA:
        if competition in (None, DEFAULT_COMPETITION, beside.name):
            return beside
        raise KitError(
            f"{beside.source} describes competition {beside.name!r}, not {competition!r}: "
            f"leave the competition out to use it, or pass that spec's name"
        )
    if competition is None and beside is not None:
        return beside
    default = get_competition(competition or DEFAULT_COMPETITION)
    if competition is None and data_dir is not None:
        _check_default_format(Path(data_dir), default)
    return default


def _check_default_format(folder: Path, default: Competition) -> None:
    """A data folder with no spec is read as the default competition only when it holds that competition's train
    file with its columns; any other folder that exists gets one line saying to infer its spec with ``kit init``."""
    if not folder.is_dir():
        return  # the loader names the missing file
    train = folder / default.train_file
    try:
        with train.open(encoding="utf-8", errors="replace") as handle:
            header = handle.readline().strip().split(",")
    except OSError:
        header = []
    if header == default.train_columns:
        return
    found = "its train.csv has other columns" if header else f"it has no {default.train_file}"
    raise KitError(
        f"{folder}: no {BESIDE_DATA} and not {default.name}'s files ({found}); run `kit init --data {folder}` to "
        "infer the competition's spec from its files, or name the competition with --competition",
        argument="data",
    )


def shipped_competitions() -> dict[str, Competition]:
    """Every shipped spec by name."""
    return {path.stem: load_spec(path) for path in sorted(shipped_dir().glob(f"*{SPEC_SUFFIX}"))}


def __getattr__(name: str) -> Any:
    if name == "COMPETITIONS":  # loaded on first use, so importing this module reads no files
        return shipped_competitions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
