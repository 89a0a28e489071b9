"""The schema of a run folder's summary (pydantic): what makes the run itself (:class:`RunIdentity`), its data, its
folds' scores and its out-of-fold scores. :mod:`kit.crossval._rundir` writes and reads it, checked; every other step
reads a run through these attributes, never through raw keys.

A summary also records the sha256 of every array and model file the run wrote (``checksums``, from
:func:`file_checksums`), and every reader of those files refuses one that is not the file the run wrote
(:meth:`Summary.check_file`): a ``test.npy`` or ``model.keras`` copied in from another run is never used silently.
Runs of kits before checksums have none and are not checked."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from kit.errors import KitError
from kit.utils import sha256_of


class RunFolderLike(Protocol):
    """A :class:`kit.crossval.RunFolder` (whose module imports this one, so it is not imported back)."""

    @property
    def root(self) -> Path: ...


CHECKED_FILES = ("*.npy", "fold-*/*.npy", "fold-*/*.keras")  # what a run's checksums cover, under its folder
SHA256 = re.compile(r"[0-9a-f]{64}")
REWRITE = "rerun its `kit cv --force`"


class _Record(BaseModel):
    # extra keys are kept (a newer kit may add some) and the values are frozen once read
    model_config = ConfigDict(frozen=True, extra="allow")


class RunIdentity(_Record):
    """What makes two runs the same run: the recipe (with overrides), the data, the folds, the seed, the hold-out
    and the pseudo-labels. A fold record and the summary of one run carry the same identity."""

    recipe_hash: str
    train_fingerprint: str
    test_fingerprint: str | None
    folds_total: int
    seed: int
    overrides: dict[str, Any] = {}  # absent in runs of kits before overrides, hold-outs and pseudo-labels: none used
    holdout: float = 0.0
    pseudo: str | None = None
    groups: str | None = None  # the fingerprint of the group column folds never split; None: no groups


class FoldSummary(_Record):
    """One fold's scores as the summary lists them."""

    fold: int
    epochs: int
    val_accuracy: float
    val_loss: float
    seconds: float


class DataShape(_Record):
    train_rows: int
    test_rows: int
    image_shape: tuple[int, ...]
    classes: int


class Summary(RunIdentity):
    """A finished run: its identity, data, folds and scores, the versions it trained with and the resolved recipe."""

    recipe: str
    competition: str
    data_dir: str  # absolute: the run finds its data from any folder
    group: str | None = None  # the runs it ranks with: the competition, or "demo" (kit's embedded demo digits)
    data: DataShape
    folds: tuple[FoldSummary, ...]
    oof_accuracy: float
    oof_loss: float
    metric: str = "accuracy"  # the competition's metric (runs of kits before it: accuracy)
    oof_score: float | None = None  # the OOF predictions scored by it; None in runs of kits before it
    fold_accuracy_mean: float
    fold_accuracy_std: float
    holdout_rows: int = 0
    holdout_accuracy: float | None = None
    pseudo_rows: int = 0
    train_seconds: float
    finished_at: str
    versions: dict[str, str] = {}
    recipe_content: dict[str, Any]
    checksums: dict[str, str] | None = None  # file (relative to the run folder) -> sha256; None: not recorded

    @field_validator("checksums")
    @classmethod
    def _sha256(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, digest in (value or {}).items():
            if not SHA256.fullmatch(digest):
                raise ValueError(f"{name}: not a sha256 (64 hexadecimal digits)")
        return value

    @field_validator("oof_accuracy", "oof_loss", "fold_accuracy_mean", "fold_accuracy_std", "train_seconds")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @property
    def label(self) -> str:
        """The runs this one ranks with (its folder under ``runs/``): the competition, or ``demo``."""
        return self.group or self.competition

    def data_folder(self, given: Path | str | None = None) -> Path:
        """The run's data folder: ``given``, else the recorded one, else (the data moved) ``data/<label>`` or
        ``data/<competition>`` below the working folder where it exists; readers check its fingerprints."""
        if given is not None:
            return Path(given)
        recorded = Path(self.data_dir)
        if recorded.is_dir():
            return recorded
        moved = (Path("data") / name for name in dict.fromkeys((self.label, self.competition)))
        return next((folder.resolve() for folder in moved if folder.is_dir()), recorded)

    @property
    def identity(self) -> dict[str, Any]:
        """The identity keys and values, as a fold record carries them."""
        return {key: getattr(self, key) for key in RunIdentity.model_fields}

    def to_json(self) -> dict[str, Any]:
        content = self.model_dump(mode="json")
        if content.get("checksums") is None:  # a summary without checksums reads as kits before them wrote it
            content.pop("checksums", None)
        return content

    def check_file(self, root: Path | str, path: Path | str) -> None:
        """Refuse ``path`` (a file in the run folder ``root``) with one line unless it is the file the run wrote: the
        one whose sha256 the summary records. A summary without checksums (an older run) checks nothing."""
        if self.checksums is None:
            return
        path = Path(path)
        try:
            name = path.relative_to(root).as_posix()
        except ValueError:  # not a path inside the run folder: no file the run wrote
            name = str(path)
        expected = self.checksums.get(name)
        if expected is None:
            raise KitError(f"{path}: not a file run {root} wrote (the run records no {name}); remove it or {REWRITE}")
        if sha256_of(path) != expected:
            raise KitError(
                f"{path}: not the file run {root} wrote (its sha256 differs from the run's record: replaced or "
                f"changed since); restore it or {REWRITE}"
            )

    def check_files(self, root: Path | str, paths: Iterable[Path | str]) -> None:
        """:meth:`check_file` for each of ``paths`` that is there."""
        for path in paths:
            if Path(path).is_file():
                self.check_file(root, path)

    def differs_from(self, record: dict[str, Any]) -> list[str]:
        """The identity keys where a fold ``record`` differs from this run (a key the record lacks counts as its
        default: older kits wrote no hold-out or pseudo-labels)."""
        fields = RunIdentity.model_fields
        return [
            key
            for key, field in fields.items()
            if record.get(key, None if field.is_required() else field.default) != getattr(self, key)
        ]


def file_checksums(run: RunFolderLike) -> dict[str, str]:
    """The sha256 of every array and model file in a run folder, by path relative to it (``oof.npy``,
    ``fold-1/model.keras``, …): the run's own arrays and each fold's model and arrays, kit's temporaries left out.
    The run records them in its summary when it finishes, and its readers check against them."""
    root = Path(run.root)
    files = {path for pattern in CHECKED_FILES for path in root.glob(pattern) if not path.name.startswith(".")}
    return {path.relative_to(root).as_posix(): sha256_of(path) for path in sorted(files) if path.is_file()}


def parse_summary(content: Any, where: str) -> Summary:
    """``content`` (the JSON of a summary file at ``where``) as a checked :class:`Summary`; one line naming the file
    and the first wrong key otherwise."""
    try:
        return Summary.model_validate(content)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top)"
        problem = "missing" if first["type"] == "missing" else first["msg"].lower()
        raise KitError(
            f"{where}: damaged ({key}: {problem}); rerun the `kit cv` that wrote it", fix=("force", True)
        ) from None
