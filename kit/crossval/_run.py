"""Stratified K-fold cross-validation: split, train one fold, run all folds (in parallel via joblib or on a Dask
cluster), resume, and write the run folder as one writer that never leaves two runs mixed."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kit.competitions import Competition, as_competition, get_metric, softmax_scores
from kit.crossval._fold import fold_score
from kit.crossval._results import CVResult, load_run
from kit.crossval._rundir import (
    IDENTITY_KEYS,
    FoldResult,
    RunFolder,
    RunLock,
    prepare_out,
    remove_leftovers,
    save_array,
)
from kit.crossval._runnames import default_run_dir, run_label
from kit.crossval._runners import train_pending
from kit.crossval._summary import DataShape, FoldSummary, Summary, file_checksums
from kit.data import ImageSet, has_test, holdout_split, load_test, load_train, resolve_data_dir
from kit.errors import ANOTHER, KitError
from kit.recipes import Recipe
from kit.utils import Callback, as_callback_list, software_versions
from kit.utils._callbacks import LOADING_DATA

MAX_JOBS = 64


def decoding(listeners: Any, phase: str) -> Any:
    """A ``(done, total)`` progress function reporting image decoding as phase ``phase`` of the callbacks."""
    return lambda done, total: listeners.on_phase(phase, done, total)


def stratification_key(labels: np.ndarray, folds: int) -> np.ndarray:
    """What folds stratify on: the class, or for a multi-label matrix each row's label combination (a combination
    rarer than ``folds`` rows stands for its rarest label, or all such rows together)."""
    if labels.ndim == 1:
        return labels
    combos, key = np.unique(labels, axis=0, return_inverse=True)
    key = key.reshape(-1)
    counts = np.bincount(key)
    frequency = labels.sum(axis=0)
    for combo in np.flatnonzero(counts < folds):
        present = np.flatnonzero(combos[combo])
        rarest = present[np.argmin(frequency[present])] if len(present) else -1
        key[key == combo] = len(combos) + 1 + rarest
    _, key = np.unique(key, return_inverse=True)
    counts = np.bincount(key)
    rare = np.isin(key, np.flatnonzero(counts < folds))
    key[rare] = key.max() + 1
    return key.reshape(-1)


def fold_splits(
    labels: np.ndarray, folds: int, seed: int, groups: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled, seeded stratified (train rows, validation rows) pairs, one per fold; with ``groups``, no group is
    split between a fold's training and validation rows (scikit-learn's ``StratifiedGroupKFold``)."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if labels.ndim == 1:
        counts = np.bincount(labels)
        present = int((counts > 0).sum())
        if present < 2:
            raise KitError(
                f"the training data hold a single class ({int(labels[0]) if len(labels) else 'none'}); "
                "cross-validation needs at least 2 classes"
            )
        smallest = int(counts[counts > 0].min())
        if smallest < folds:
            raise KitError(
                f"cv.folds = {folds} needs at least {folds} images of every class; the rarest has {smallest}"
            )
    key = stratification_key(labels, folds)
    if groups is None:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(labels)), key))
    if len(np.unique(groups)) < folds:
        raise KitError(
            f"cv.folds = {folds} needs at least {folds} groups; the group column has {len(np.unique(groups))}"
        )
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), key, groups))


def groups_fingerprint(groups: np.ndarray | None) -> str | None:
    """A short hash of the group column (None without groups), part of a run's identity."""
    if groups is None:
        return None
    import hashlib

    return hashlib.sha256("\n".join(map(str, groups)).encode()).hexdigest()[:16]


def check_fits(recipe: Recipe, shape: tuple[int, ...]) -> None:
    """Before any fold trains: a kernel that does not fit the images fails here, and a backbone's weights are fetched
    (or refused, one line) once."""
    recipe.feature_maps(shape)
    if recipe.model.backbone is not None:
        from kit.engine import fetch_backbone

        fetch_backbone(recipe, shape)


def _check_pseudo(pseudo: Any, test: ImageSet | None) -> None:
    """Pseudo-labels must come from predictions of exactly these test rows."""
    if test is None:
        raise KitError("pseudo-labels need the test images, but the data folder has no test file")
    if pseudo.test_fingerprint not in (None, test.fingerprint()) or pseudo.test_rows != len(test):
        raise KitError(
            f"pseudo-labels from {pseudo.source} were predicted for other test rows than this data's "
            f"({pseudo.test_rows} rows, fingerprint {pseudo.test_fingerprint}); use the same test data"
        )


def run_identity(
    recipe: Recipe,
    train: ImageSet,
    test: ImageSet | None,
    overrides: Mapping[str, Any] | None,
    holdout: float,
    pseudo: Any = None,
) -> dict[str, Any]:
    """What makes two runs the same run: recipe (with overrides), data, folds, seed, hold-out and pseudo-labels."""
    return {
        "recipe_hash": recipe.content_hash,
        "train_fingerprint": train.fingerprint(),
        "test_fingerprint": None if test is None else test.fingerprint(),
        "folds_total": recipe.cv.folds,
        "seed": recipe.cv.seed,
        "overrides": dict(overrides or {}),
        "holdout": holdout,
        "pseudo": None if pseudo is None else pseudo.fingerprint,
        "groups": groups_fingerprint(train.groups),
    }


def _differences(found: Mapping[str, Any], identity: Mapping[str, Any]) -> list[str]:
    """The identity keys (overrides key by key) where an existing fold differs from this run."""
    differ = []
    for key in IDENTITY_KEYS:
        if key == "overrides":
            old, new = found.get(key) or {}, identity[key]
            differ += [f"override {name}" for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)]
        elif found.get(key) != identity[key]:
            differ.append(key.replace("_", " "))
    return differ


def _finished_folds(run: RunFolder, identity: dict[str, Any], classes: int) -> dict[int, FoldResult]:
    """Folds already trained with the same identity; a folder holding another run is refused with what differs."""
    finished = {}
    for fold in range(1, identity["folds_total"] + 1):
        try:
            result = run.load_fold(fold, classes)
        except KitError:
            result = None  # a damaged fold is trained again
        if result is None:
            continue
        differ = _differences(result.record, identity)
        if differ:
            raise KitError(
                f"{run.root} holds another run (its {run.fold_dir(fold).name} differs in {', '.join(differ)})",
                fix=(("force", True), ("out", ANOTHER)),
            )
        finished[fold] = result
    if run.summary_path.is_file() and not finished:
        try:
            differ = _differences(run.summary().identity, identity)
        except KitError:
            differ = []
        if differ:
            raise KitError(
                f"{run.root} holds another run (it differs in {', '.join(differ)})",
                fix=(("force", True), ("out", ANOTHER)),
            )
    return finished


def run_cv(
    recipe: Recipe,
    data_dir: Path | str | None = None,
    competition: Competition | str | None = None,
    out: Path | str | None = None,
    *,
    jobs: int | str = "auto",
    force: bool = False,
    callbacks: Iterable[Callback] | Callback | None = (),
    cluster: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    holdout: float = 0.0,
    pseudo: Any = None,
) -> CVResult:
    """Train every fold not already finished, then write oof.npy, test.npy and the run summary; return the run.

    ``recipe`` is resolved, ``overrides`` already applied (they are recorded). Folds run in ``jobs`` local processes
    (one per GPU when several are visible; ``"auto"``: see :func:`kit.crossval._runners.auto_jobs`) or on the Dask
    scheduler at ``cluster``; the run folder and its numbers are the same either way.
    """
    listeners = as_callback_list(callbacks)
    if jobs != "auto" and (isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS):
        raise KitError.invalid("jobs", f'"auto" or a whole number from 1 to {MAX_JOBS}', jobs)
    if not isinstance(holdout, (int, float)) or not math.isfinite(holdout) or not 0 <= holdout <= 0.5:
        raise KitError.invalid("holdout", "a share from 0 to 0.5 of the training rows", holdout)
    listeners.on_phase(LOADING_DATA)  # a start-up step until the first epoch (kit.utils._callbacks.STARTUP_PHASES)
    data_dir = resolve_data_dir(data_dir, as_competition(competition, None))
    competition = as_competition(competition, data_dir)
    train = load_train(data_dir, competition, decoding(listeners, "decode train images"))
    check_fits(recipe, train.images.shape[1:])
    test = (
        load_test(data_dir, competition, decoding(listeners, "decode test images"))
        if has_test(data_dir, competition)
        else None
    )
    if pseudo is not None:
        _check_pseudo(pseudo, test)
    key = stratification_key(train.labels, recipe.cv.folds)
    kept, held = holdout_split(key, float(holdout), recipe.cv.seed)
    groups = None if train.groups is None else train.groups[kept]
    splits = [(kept[a], kept[b]) for a, b in fold_splits(train.labels[kept], recipe.cv.folds, recipe.cv.seed, groups)]
    identity = run_identity(recipe, train, test, overrides, float(holdout), pseudo)
    out = Path(out) if out else default_run_dir(run_label(competition.name, data_dir), recipe.name)
    run = RunFolder(prepare_out(out))
    run.refuse_links(range(1, recipe.cv.folds + 1))  # kit never writes or deletes through a link out of the run
    pseudo_rows = None if pseudo is None else (pseudo.rows, np.asarray(pseudo.labels, dtype=np.int64))  # test rows
    with RunLock(run.root):
        remove_leftovers(run.root)
        if force:
            run.invalidate()
        results = _finished_folds(run, identity, competition.classes)
        if len(results) < recipe.cv.folds:
            run.summary_path.unlink(missing_ok=True)  # the folder is no longer a finished run until all folds are
        listeners.on_run_begin("cv", recipe.cv.folds, recipe.train.epochs)
        for result in results.values():
            listeners.on_fold_end(fold_score(result), resumed=True)
        pending = [fold for fold in range(1, recipe.cv.folds + 1) if fold not in results]
        train_pending(
            recipe,
            pending,
            splits,
            (train, test),
            competition.classes,
            held,
            pseudo_rows,
            identity,
            run,
            results,
            listeners,
            jobs,
            cluster,
        )
        if pseudo is not None:  # which test rows were added to every fold's training part, with which labels
            save_array(run.pseudo_rows_path, np.asarray(pseudo.rows, dtype=np.int64))
            save_array(run.pseudo_labels_path, np.asarray(pseudo.labels, dtype=np.int64))
        _write_summary(run, recipe, competition, Path(data_dir).resolve(), train, test, held, results, identity)
    result = load_run(run.root)
    listeners.on_run_end()
    return result


def _write_summary(
    run: RunFolder,
    recipe: Recipe,
    competition: Competition,
    data_dir: Path,
    train: ImageSet,
    test: ImageSet | None,
    held: np.ndarray,
    results: dict[int, FoldResult],
    identity: dict[str, Any],
) -> None:
    """Assemble the OOF and test softmaxes from the folds and write them with the run summary (last)."""
    ordered = [results[fold] for fold in sorted(results)]
    oof = np.zeros((len(train), competition.classes), dtype=np.float32)
    for result in ordered:
        oof[result.val_rows] = result.val_proba
    cv_rows = np.setdiff1d(np.arange(len(train)), held)
    oof_accuracy, oof_loss = softmax_scores(oof[cv_rows], train.labels[cv_rows])
    oof_score = get_metric(competition.metric).score(train.labels[cv_rows], oof[cv_rows])
    holdout_accuracy = None
    if len(held):
        oof[held] = np.mean([result.holdout_proba for result in ordered], axis=0)
        holdout_accuracy = softmax_scores(oof[held], train.labels[held])[0]
        save_array(run.holdout_rows_path, held)
    fold_scores = [
        {key: result.record[key] for key in ("fold", "epochs", "val_accuracy", "val_loss", "seconds")}
        for result in ordered
    ]
    accuracies = [score["val_accuracy"] for score in fold_scores]
    save_array(run.oof_path, oof)
    save_array(run.labels_path, train.labels)
    if test is not None:
        save_array(run.test_path, np.mean([result.test_proba for result in ordered], axis=0).astype(np.float32))
        save_array(run.test_ids_path, test.ids)
    summary = Summary(
        recipe=recipe.name,
        **identity,
        competition=competition.name,
        data_dir=str(data_dir),
        group=run_label(competition.name, data_dir),
        data=DataShape(
            train_rows=len(train),
            test_rows=0 if test is None else len(test),
            image_shape=tuple(train.images.shape[1:]),
            classes=competition.classes,
        ),
        folds=tuple(FoldSummary(**score) for score in fold_scores),
        oof_accuracy=oof_accuracy,
        oof_loss=oof_loss,
        metric=competition.metric,
        oof_score=oof_score,
        fold_accuracy_mean=float(np.mean(accuracies)),
        fold_accuracy_std=float(np.std(accuracies)),
        holdout_rows=len(held),
        holdout_accuracy=holdout_accuracy,
        pseudo_rows=0 if not identity["pseudo"] else len(np.load(run.pseudo_rows_path)),
        train_seconds=round(sum(score["seconds"] for score in fold_scores), 2),
        finished_at=max(result.record["finished_at"] for result in ordered),
        versions=software_versions(),
        recipe_content=recipe.content,
        checksums=file_checksums(run),
    )
    run.write_summary(summary)
