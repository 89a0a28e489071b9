"""The submission sidecar: ``submissions/<name>.json`` beside ``<name>.csv``, what kit knows of that submission —
where it came from (runs, weights, selection, stack, TTA, the test softmax file), what it was checked against, its
local score and its Kaggle submissions. One pydantic schema (:class:`Sidecar`); :func:`read_sidecar`,
:func:`write_sidecar` and :func:`note_sidecar` are the only code that names or touches the file, and they only ever
change a sidecar kit wrote for that very CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from kit.errors import KitError
from kit.utils import read_json, write_json


class LocalScore(BaseModel):
    """``kit score``'s result on held-out answers."""

    model_config = ConfigDict(extra="allow")

    metric: str
    score: float
    accuracy: float
    rows: int
    solution: str
    scored_at: str


class KaggleEntry(BaseModel):
    """One upload of the file to Kaggle (never credentials)."""

    model_config = ConfigDict(extra="allow")

    competition: str
    ref: int
    message: str
    submitted_at: str
    status: str
    public_score: str | float | None = None  # as Kaggle gives it ("0.90000")


class Sidecar(BaseModel):
    """Provenance and honest scores of one submission file. The keys of how it was combined (``runs``, ``weights``,
    ``selection``, ``stack``, ``tta``…) differ by combiner and are kept as written."""

    model_config = ConfigDict(extra="allow")

    submission: str
    competition: str | None = None
    created_at: str | None = None
    rows: int | None = None
    checked_against: str | None = None
    data_dir: str | None = None
    test_softmax: str | None = None
    test_fingerprint: str | None = None
    predicted_class_counts: list[int] | None = None
    local_score: LocalScore | None = None
    kaggle: list[KaggleEntry] = []

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


def sidecar_path(submission: Path | str) -> Path:
    """Where the sidecar of the submission CSV ``submission`` lives."""
    return Path(submission).with_suffix(".json")


def read_sidecar(submission: Path | str) -> Sidecar | None:
    """The sidecar kit wrote for ``submission``; None where there is none. A file of that name that is not a sidecar
    of this CSV (damaged, another tool's, another submission's) is one line naming it."""
    path = sidecar_path(submission)
    if not path.is_file():
        return None
    content = read_json(path)
    if not isinstance(content, dict) or content.get("submission") != Path(submission).name:
        raise KitError(f"{path}: not the sidecar kit wrote for {Path(submission).name}; kit leaves it as it is")
    try:
        return Sidecar.model_validate(content)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise KitError(f"{path}: damaged ({key}: {first['msg'].lower()}); write the submission again") from None


def write_sidecar(submission: Path | str, sidecar: Sidecar | dict[str, Any]) -> Sidecar:
    """Write (atomically) the sidecar of ``submission``, checked against the schema; returns it."""
    checked = sidecar if isinstance(sidecar, Sidecar) else Sidecar.model_validate(sidecar)
    if checked.submission != Path(submission).name:
        raise KitError(f"{sidecar_path(submission)}: a sidecar names its own CSV, not {checked.submission}")
    write_json(sidecar_path(submission), checked.to_json())
    return checked


def note_sidecar(submission: Path | str, **fields: Any) -> Sidecar:
    """Add or replace ``fields`` in the sidecar of ``submission``, keeping every other key (a sidecar naming only the
    CSV is started where there is none); a file of that name kit did not write for this CSV is left as it is, and
    the :class:`~kit.errors.KitError` of :func:`read_sidecar` says so."""
    current = read_sidecar(submission)
    content = current.to_json() if current is not None else {"submission": Path(submission).name}
    return write_sidecar(submission, {**content, **fields})
