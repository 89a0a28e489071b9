"""The schema of a run folder's summary (pydantic): what makes the run itself (:class:`RunIdentity`), its data, its
folds' scores and its out-of-fold scores. :mod:`kit.crossval._rundir` writes and reads it, checked; every other step
reads a run through these attributes, never through raw keys."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from kit.errors import KitError


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
    data_dir: str
    data: DataShape
    folds: tuple[FoldSummary, ...]
    oof_accuracy: float
    oof_loss: float
    fold_accuracy_mean: float
    fold_accuracy_std: float
    holdout_rows: int = 0
    holdout_accuracy: float | None = None
    pseudo_rows: int = 0
    train_seconds: float
    finished_at: str
    versions: dict[str, str] = {}
    recipe_content: dict[str, Any]

    @field_validator("oof_accuracy", "oof_loss", "fold_accuracy_mean", "fold_accuracy_std", "train_seconds")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @property
    def identity(self) -> dict[str, Any]:
        """The identity keys and values, as a fold record carries them."""
        return {key: getattr(self, key) for key in RunIdentity.model_fields}

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def differs_from(self, record: dict[str, Any]) -> list[str]:
        """The identity keys where a fold ``record`` differs from this run (a key the record lacks counts as its
        default: older kits wrote no hold-out or pseudo-labels)."""
        fields = RunIdentity.model_fields
        return [
            key
            for key, field in fields.items()
            if record.get(key, None if field.is_required() else field.default) != getattr(self, key)
        ]


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
