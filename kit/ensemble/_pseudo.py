"""Pseudo-labels: the test rows an ensemble is confident about, with its labels, chosen from a submission's sidecar
(its ``NAME.npy`` test softmax) or from run folders (their ``test.npy`` soft-voted with equal weights). For a
multi-label task a row is confident when every one of its labels is (probability ≥ threshold or ≤ 1 − threshold),
and its labels are the 0/1 matrix of those decisions.

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
    labels (the ensemble's argmax; a multi-label task's 0/1 matrix, rows × labels) and those probabilities (the least
    sure label's); ``source`` says where they came from and ``fingerprint`` (16 hex digits) changes whenever the rows,
    the labels or the test data do."""

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


def confident_rows(
    proba: np.ndarray, threshold: float, multilabel: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, labels, probabilities) of the rows of ``proba`` whose largest probability is at least ``threshold``;
    ``multilabel`` (``proba`` independent label probabilities): the rows whose every label is at least ``threshold``
    or at most 1 − ``threshold``, their 0/1 label matrix (≥ 0.5) and their least sure label's max(p, 1 − p)."""
    check_threshold(threshold)
    if multilabel:
        rows = np.flatnonzero(np.all((proba >= threshold) | (proba <= 1 - threshold), axis=1)).astype(np.int64)
        sure = np.maximum(proba[rows], 1 - proba[rows]).min(axis=1, initial=1.0)
        return rows, (proba[rows] >= 0.5).astype(np.int64), sure.astype(np.float64)
    best = proba.max(axis=1)
    rows = np.flatnonzero(best >= threshold).astype(np.int64)
    return rows, proba[rows].argmax(axis=1).astype(np.int64), best[rows].astype(np.float64)


def check_threshold(threshold: float) -> None:
    if not (isinstance(threshold, (int, float)) and 0 < threshold <= 1):
        raise KitError.invalid("threshold", "a probability in (0, 1], e.g. 0.99", threshold)


# what a source gives: (test probabilities, competition, test fingerprint, description, multi-label)
Loaded = tuple[np.ndarray, str, str | None, str, bool]


def _from_sidecar(path: Path, data_dir: Path | None) -> Loaded:
    """(test softmax, competition, test fingerprint, description, multi-label) of a submission written by ``kit
    predict``; whether its competition is multi-label, from its spec (beside ``data_dir`` or the sidecar's data)."""
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
    from kit.competitions import as_competition

    folder = data_dir if data_dir is not None else sidecar.get("data_dir")
    multilabel = as_competition(sidecar["competition"], folder).multilabel
    return proba, sidecar["competition"], sidecar.get("test_fingerprint"), f"submission {path}", multilabel


def _from_runs(references: Sequence[str | Path]) -> Loaded:
    """(equal soft vote of the runs' test softmaxes, competition, test fingerprint, description, multi-label)."""
    from kit.ensemble._members import check_compatible, load_member, soft_vote

    members = [load_member(reference) for reference in references]
    check_compatible(members)
    summary = members[0].summary
    names = ", ".join(str(member.run.root) for member in members)
    description = f"run {names}" if len(members) == 1 else f"runs {names} (equal soft vote)"
    voted = soft_vote([member.test for member in members])
    multilabel = members[0].labels is not None and members[0].labels.ndim == 2
    return voted, summary.competition, summary.test_fingerprint, description, multilabel


def _load(source: str | Path | Sequence[str | Path], data_dir: Path | None = None) -> Loaded:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix == ".csv":
            path = path.with_suffix(".json")
        if path.suffix == ".json":
            if not path.is_file():
                raise KitError(f"source {source}: {path} not found; give a submission's .json (or .csv) or run folders")
            return _from_sidecar(path, data_dir)
        return _from_runs([source])
    sources = list(source)
    if not sources:
        raise KitError("empty; give a submission's .json (or .csv) or one or more run folders", argument="source")
    if any(Path(item).suffix in (".json", ".csv") for item in sources) and len(sources) > 1:
        raise KitError(
            "give one submission, or run folders only (a submission already combines its runs)", argument="source"
        )
    return _load(sources[0], data_dir) if len(sources) == 1 else _from_runs(sources)


def pseudo_rows(
    source: str | Path | Sequence[str | Path], threshold: float = THRESHOLD, data_dir: Path | str | None = None
) -> PseudoLabels:
    """The confident test rows of ``source``: a submission written by ``kit predict`` (its ``.json`` sidecar, or
    the ``.csv`` beside it) or one or more run folders (their test softmaxes soft-voted with equal weights).

    Rows are chosen where the ensemble's largest probability is at least ``threshold`` (possibly none; for a
    multi-label task, where every label's is at least ``threshold`` or at most 1 − ``threshold``). With
    ``data_dir``, its test file must hold the test rows the source predicted (same fingerprint).
    """
    check_threshold(threshold)
    folder = None if data_dir is None else Path(data_dir)
    proba, competition, test_fingerprint, description, multilabel = _load(source, folder)
    if folder is not None:
        _check_test_rows(folder, competition, test_fingerprint, description)
    rows, labels, probabilities = confident_rows(proba, threshold, multilabel)
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
    from kit.competitions import as_competition
    from kit.data import load_test

    spec = as_competition(competition, data_dir)  # a spec beside the data (an image competition's) or a shipped one
    path = data_dir / spec.test_file
    if not path.is_file():
        raise KitError(f"{path}: not found; data_dir must hold the test file the pseudo-labels were predicted for")
    found = load_test(data_dir, spec).fingerprint()
    if expected is not None and found != expected:
        raise KitError(
            f"{path}: not the test rows of {description} (fingerprint {found}, the source has {expected}); "
            "pseudo-label with a source predicted on this data"
        )
