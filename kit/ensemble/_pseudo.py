"""Pseudo-labels: the test rows an ensemble is confident about, with its labels, chosen from a submission's sidecar
(its ``NAME.npy`` test softmax) or from run folders (their ``test.npy`` soft-voted with equal weights).

:func:`pseudo_rows` only chooses the rows; training on them (added to every fold's training part, never to a
validation part) is the job of cross-validation, which records the rows and labels in the run folder and
:attr:`PseudoLabels.fingerprint` in the run's identity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kit.errors import KitError
from kit.utils import load_array, read_json

THRESHOLD = 0.99


@dataclass(frozen=True, eq=False)
class PseudoLabels:
    """Test rows (indices into the test set, ascending) whose ensemble probability is at least ``threshold``, their
    labels (the ensemble's argmax) and those probabilities; ``source`` says where they came from and ``fingerprint``
    (16 hex digits) changes whenever the rows, the labels or the test data do."""

    rows: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    source: str
    threshold: float
    test_rows: int
    classes: int
    competition: str
    test_fingerprint: str | None
    fingerprint: str

    def __len__(self) -> int:
        return len(self.rows)


def confident_rows(proba: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, labels, probabilities) of the rows of ``proba`` whose largest probability is at least ``threshold``."""
    check_threshold(threshold)
    best = proba.max(axis=1)
    rows = np.flatnonzero(best >= threshold).astype(np.int64)
    return rows, proba[rows].argmax(axis=1).astype(np.int64), best[rows].astype(np.float64)


def check_threshold(threshold: float) -> None:
    if not (isinstance(threshold, (int, float)) and 0 < threshold <= 1):
        raise KitError.invalid("threshold", "a probability in (0, 1], e.g. 0.99", threshold)


def _from_sidecar(path: Path) -> tuple[np.ndarray, str, str | None, str]:
    """(test softmax, competition, test fingerprint, description) of a submission written by ``kit predict``."""
    sidecar = read_json(path)
    if not isinstance(sidecar, dict) or "competition" not in sidecar:
        raise KitError(f"{path}: not a submission sidecar written by kit predict (no competition key)")
    if not sidecar.get("test_softmax"):
        raise KitError(f"{path}: records no test softmax (an older kit predict wrote it); write the submission again")
    softmax = path.parent / sidecar["test_softmax"]
    if not softmax.is_file():
        raise KitError(f"{softmax}: not found; the sidecar {path.name} points to it: write the submission again")
    proba = load_array(softmax)
    if proba.ndim != 2 or proba.shape[0] != sidecar.get("rows", proba.shape[0]):
        raise KitError(f"{softmax}: shape {proba.shape} is not (test rows {sidecar.get('rows')}, classes)")
    return proba, sidecar["competition"], sidecar.get("test_fingerprint"), f"submission {path}"


def _from_runs(references: Sequence[str | Path]) -> tuple[np.ndarray, str, str | None, str]:
    """(equal soft vote of the runs' test softmaxes, competition, test fingerprint, description)."""
    from kit.ensemble._members import check_compatible, load_member, soft_vote

    members = [load_member(reference) for reference in references]
    check_compatible(members)
    summary = members[0].summary
    names = ", ".join(str(member.run.root) for member in members)
    description = f"run {names}" if len(members) == 1 else f"runs {names} (equal soft vote)"
    voted = soft_vote([member.test for member in members])
    return voted, summary.competition, summary.test_fingerprint, description


def _load(source: str | Path | Sequence[str | Path]) -> tuple[np.ndarray, str, str | None, str]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix == ".csv":
            path = path.with_suffix(".json")
        if path.suffix == ".json":
            if not path.is_file():
                raise KitError(f"source {source}: {path} not found; give a submission's .json (or .csv) or run folders")
            return _from_sidecar(path)
        return _from_runs([source])
    sources = list(source)
    if not sources:
        raise KitError("empty; give a submission's .json (or .csv) or one or more run folders", argument="source")
    if any(Path(item).suffix in (".json", ".csv") for item in sources) and len(sources) > 1:
        raise KitError(
            "give one submission, or run folders only (a submission already combines its runs)", argument="source"
        )
    return _load(sources[0]) if len(sources) == 1 else _from_runs(sources)


def pseudo_rows(
    source: str | Path | Sequence[str | Path], threshold: float = THRESHOLD, data_dir: Path | str | None = None
) -> PseudoLabels:
    """The confident test rows of ``source``: a submission written by ``kit predict`` (its ``.json`` sidecar, or
    the ``.csv`` beside it) or one or more run folders (their test softmaxes soft-voted with equal weights).

    Rows are chosen where the ensemble's largest probability is at least ``threshold`` (possibly none). With
    ``data_dir``, its test file must hold the test rows the source predicted (same fingerprint).
    """
    check_threshold(threshold)
    proba, competition, test_fingerprint, description = _load(source)
    if data_dir is not None:
        _check_test_rows(Path(data_dir), competition, test_fingerprint, description)
    rows, labels, probabilities = confident_rows(proba, threshold)
    digest = hashlib.sha256(f"{competition}:{test_fingerprint}:{len(proba)}:".encode())
    digest.update(rows.tobytes())
    digest.update(labels.tobytes())
    return PseudoLabels(
        rows=rows,
        labels=labels,
        probabilities=probabilities,
        source=description,
        threshold=float(threshold),
        test_rows=len(proba),
        classes=proba.shape[1],
        competition=competition,
        test_fingerprint=test_fingerprint,
        fingerprint=digest.hexdigest()[:16],
    )


def _check_test_rows(data_dir: Path, competition: str, expected: str | None, description: str) -> None:
    from kit.competitions import get_competition
    from kit.data import load_test

    spec = get_competition(competition)
    path = data_dir / spec.test_file
    if not path.is_file():
        raise KitError(f"{path}: not found; data_dir must hold the test file the pseudo-labels were predicted for")
    found = load_test(data_dir, spec).fingerprint()
    if expected is not None and found != expected:
        raise KitError(
            f"{path}: not the test rows of {description} (fingerprint {found}, the source has {expected}); "
            "pseudo-label with a source predicted on this data"
        )
