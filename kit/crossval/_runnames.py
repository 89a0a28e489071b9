"""Run-folder names: where a run goes by default (``runs/<competition>/<recipe>``, ``runs/demo/<recipe>`` on kit's
embedded demo digits) and how a reference — a folder, or a bare name such as ``demo`` or ``runs/demo`` — finds it."""

from __future__ import annotations

from pathlib import Path

from kit.crossval._rundir import FOLD_RECORD, RUNS_DIR, SUMMARY, RunFolder
from kit.errors import KitError
from kit.utils._io import os_error

DEMO_LABEL = "demo"  # the runs of kit's embedded demo digits rank among themselves, never with a competition's
DEMO_MARKER = ".kit-demo.json"  # as kit.data._demo writes it beside the demo files


def run_label(competition: str, data_dir: Path | str) -> str:
    """The runs a run on ``data_dir`` ranks with: ``demo`` for kit's embedded demo digits of the default
    competition (``<competition>-demo`` for another's format), ``shapes`` for its generated shapes (``kit demo-data
    --dataset shapes``; ``<competition>-shapes``), else the competition."""
    from kit.competitions import DEFAULT_COMPETITION
    from kit.utils import read_json

    marker = Path(data_dir) / DEMO_MARKER
    if not marker.is_file():
        return competition
    try:
        dataset = read_json(marker, dict).get("@dataset", "digits")
    except (KitError, OSError):
        dataset = "digits"
    label = {"shapes": "shapes"}.get(dataset, DEMO_LABEL)  # a hand-edited marker never names a folder
    return label if competition == DEFAULT_COMPETITION else f"{competition}-{label}"


def default_run_dir(label: str, recipe: str) -> Path:
    """The run folder of ``recipe`` when none is given: ``runs/<label>/<recipe>``."""
    return RUNS_DIR / label / recipe


def _finished(path: Path) -> bool:
    return (path / SUMMARY).is_file()


def _started(path: Path) -> bool:
    return path.is_dir() and any(path.glob(f"fold-*/{FOLD_RECORD}"))


def _bare_name(path: Path) -> str | None:
    """``demo`` for ``demo`` or ``runs/demo`` (a name to look up under ``runs/*/``); None for any other path."""
    parts = path.parts
    if len(parts) == 1 and parts[0] not in (".", ".."):
        return parts[0]
    if len(parts) == 2 and Path(parts[0]) == RUNS_DIR:
        return parts[1]
    return None


def run_candidates(reference: str | Path) -> list[Path]:
    """The folders a run reference may mean: the path itself, ``runs/<path>`` (runs of kits before the competition
    folders), then for a bare name every ``runs/*/<name>``."""
    path = Path(reference).expanduser()
    found = [path, RUNS_DIR / path]
    name = _bare_name(path)
    if name is not None and RUNS_DIR.is_dir():
        found += sorted(folder / name for folder in RUNS_DIR.iterdir() if folder.is_dir())
    return list(dict.fromkeys(found))


def resolve_run(reference: str | Path) -> RunFolder:
    """A run folder by path, or by name (``demo``, ``runs/demo``: the one ``runs/*/demo``); it must hold a
    summary file. A name that several competitions' runs share fails with one line listing them."""
    path = Path(reference)
    try:
        for direct in (path, RUNS_DIR / path):
            if _finished(direct):
                return RunFolder(direct)
        candidates = run_candidates(reference)
        finished = [folder for folder in candidates[2:] if _finished(folder)]
        unfinished = next((folder for folder in candidates if _started(folder) and not _finished(folder)), None)
    except OSError as error:
        raise os_error(Path(error.filename or path), error, "cannot read it") from None
    if len(finished) == 1:
        return RunFolder(finished[0])
    if finished:
        listed = ", ".join(str(folder) for folder in finished)
        raise KitError(f"run {reference}: ambiguous, {listed} all hold one; give the run folder's path", argument="run")
    if unfinished is not None:
        raise KitError(f"run {reference}: unfinished (no {SUMMARY} in {unfinished}); rerun its `kit cv` to finish it")
    raise KitError(f"run {reference}: no {SUMMARY} there or under {RUNS_DIR}/*/; run `kit cv` first")
