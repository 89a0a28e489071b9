"""Soft voting over fold runs: weighted mean of softmaxes, OOF scoring, weights fit on OOF, test-time augmentation.

Each run's folds are averaged first (its ``test.npy``; its ``oof.npy`` already holds one held-out prediction per
row), then the runs are averaged with their weights, so a weight means the same on the OOF rows and on the test rows.
With equal fold counts this is the plain mean over every fold model of every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from rich.progress import Progress, TaskID
from rich.table import Table

from kit.competitions import get_competition
from kit.runtime import softmax_scores
from kit.errors import KitError
from kit.recipes import Recipe, parse_recipe
from kit.rundir import RunFolder, load_array, resolve_run
from kit.submission import expected_ids, refuse_overwrite, spec_ids, write_submission

SUBMISSIONS_DIR = Path("submissions")
TTA_SEED = 0
TTA_BATCH = 256
MAX_NAME = 100
FIT_GENERATIONS = 30
EQUAL, GIVEN, AUTO, CROSS_FITTED = "equal", "given", "auto, in-sample", "auto, cross-fitted"


@dataclass(frozen=True, eq=False)
class Member:
    """One run of an ensemble: its folder, summary and softmaxes (OOF rows × classes, test rows × classes).

    With test-time augmentation ``oof`` and ``test`` average ``tta`` augmented copies in, and ``plain_oof`` keeps the
    run's own ``oof.npy``.
    """

    run: RunFolder
    summary: dict[str, Any]
    oof: np.ndarray
    test: np.ndarray
    tta: int = 0
    plain_oof: np.ndarray | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.run.root.name

    @property
    def recipe(self) -> Recipe:
        """The resolved recipe the run was trained with, from its summary."""
        try:
            return parse_recipe(self.summary["recipe_content"], self.summary["recipe"])
        except KitError as error:
            raise KitError(f"run {self.run.root}: summary.json recipe_content: {error}") from None


def load_member(reference: str | Path) -> Member:
    """A finished run with test predictions, by path or by name under ``runs/``."""
    run = resolve_run(reference)
    if not run.test_path.is_file():
        raise KitError(
            f"run {run.root}: no test.npy (its data folder had no test.csv); rerun `kit cv` with the test data"
        )
    return Member(run, run.summary(), load_array(run.oof_path), load_array(run.test_path))


def check_compatible(members: Sequence[Member]) -> None:
    """Fail with one line naming the first run that differs from the first one in competition, train or test rows."""
    first = members[0]
    first_ids = load_array(first.run.root / "test_ids.npy")
    seen = {first.run.root.resolve()}
    for member in members[1:]:
        where = f"run {member.run.root}"
        if member.run.root.resolve() in seen:
            raise KitError(f"{where}: given twice; list each run once and weight it with --weights")
        seen.add(member.run.root.resolve())
        for key, what in (
            ("competition", "competition"),
            ("train_fingerprint", "training rows"),
            ("test_fingerprint", "test rows"),
        ):
            if member.summary[key] != first.summary[key]:
                raise KitError(
                    f"{where}: its {what} ({member.summary[key]}) differ from run {first.run.root} "
                    f"({first.summary[key]}); "
                    "ensemble only runs of the same competition and data"
                )
        if member.oof.shape != first.oof.shape or member.test.shape != first.test.shape:
            raise KitError(
                f"{where}: softmax shapes {member.oof.shape} / {member.test.shape} differ from run {first.run.root} "
                f"({first.oof.shape} / {first.test.shape}); rerun `kit cv` for it"
            )
        if not np.array_equal(load_array(member.run.root / "test_ids.npy"), first_ids):
            raise KitError(
                f"{where}: its test ids differ from run {first.run.root}; ensemble only runs of the same test data"
            )


def soft_vote(probas: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """The weighted mean of class-probability arrays (equal weights when ``weights`` is None)."""
    return np.average(np.stack(probas), axis=0, weights=weights)


def normalise_weights(weights: Sequence[float], runs: int) -> np.ndarray:
    """Weights scaled to sum to 1, one non-negative finite number per run."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (runs,):
        raise KitError(
            f"--weights: {len(weights)} weights for {runs} runs; "
            f"give one per run, e.g. --weights {','.join(['1'] * runs)}"
        )
    if not np.all(np.isfinite(weights)) or (weights < 0).any() or weights.sum() <= 0:
        raise KitError(f"--weights: {','.join(f'{w:g}' for w in weights)} must be non-negative numbers, not all zero")
    return weights / weights.sum()


def parse_weights(text: str, runs: int) -> np.ndarray:
    """``"2,1"`` → normalised weights ``[2/3, 1/3]``, failing with one line on anything else."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise KitError(f"--weights {text!r}: expected comma-separated numbers, one per run, e.g. 2,1") from None
    return normalise_weights(values, runs)


def fit_weights(oofs: Sequence[np.ndarray], labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Weights on the simplex that maximise OOF accuracy, ties broken by the lower log loss (differential evolution).

    Accuracy is a step function of the weights, so a gradient-free search runs a fixed number of generations (about
    6 s for 5 runs of 42,000 rows); it starts from equal weights and keeps the best point found, so it never does
    worse than them on these rows.
    """
    runs = len(oofs)
    if runs == 1:
        return np.ones(1)
    stacked = np.stack(oofs)
    tie = 1.0 / (20 * len(labels))  # the clipped log loss stays below 16.2, so this term is worth less than one row

    def objective(raw: np.ndarray) -> float:
        weights = raw / raw.sum() if raw.sum() > 0 else np.full(runs, 1.0 / runs)
        accuracy, loss = softmax_scores(np.tensordot(weights, stacked, axes=1), labels)
        return -accuracy + tie * loss

    from scipy.optimize import differential_evolution

    found = differential_evolution(
        objective, [(0.0, 1.0)] * runs, x0=np.ones(runs), seed=seed, maxiter=FIT_GENERATIONS, tol=0.0, polish=False
    )
    return normalise_weights(found.x, runs)


def cross_fitted(oofs: Sequence[np.ndarray], labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """OOF softmax of fitted weights where each random half of the rows is voted with weights fit on the other half.

    Scoring weights on the rows they were fit on flatters them; this is the honest estimate of what fitting gains.
    """
    voted = np.zeros_like(oofs[0], dtype=np.float64)
    halves = np.array_split(np.random.default_rng(seed).permutation(len(labels)), 2)
    for fit_rows, score_rows in (halves, halves[::-1]):
        weights = fit_weights([oof[fit_rows] for oof in oofs], labels[fit_rows], seed)
        voted[score_rows] = soft_vote([oof[score_rows] for oof in oofs], weights)
    return voted


class TTAProgress(Protocol):
    """What a caller may watch during test-time augmentation: the fold models to run, then each one done."""

    def on_start(self, total: int) -> None: ...

    def on_fold(self, run: str, fold: int) -> None: ...


def augmented_softmax(
    model: Any, images: np.ndarray, augmenter: Any, copies: int, batch_size: int = TTA_BATCH
) -> np.ndarray:
    """The mean softmax of ``model`` over ``images`` and ``copies`` randomly augmented copies of them."""
    from kit.pipeline import evaluation_dataset

    classes = model.output_shape[-1]
    predictions = [model.predict(evaluation_dataset(images, None, classes, batch_size), verbose=0)]
    augmented = evaluation_dataset(images, None, classes, batch_size).map(
        lambda batch: augmenter(batch, training=True)  # sequential: the random draws come in a fixed order
    )
    predictions += [model.predict(augmented, verbose=0) for _ in range(copies)]
    return np.mean(predictions, axis=0)


def with_tta(
    member: Member, train_images: np.ndarray, test_images: np.ndarray, copies: int, progress: TTAProgress | None = None
) -> Member:
    """The member with OOF and test softmaxes of its fold models averaged over ``copies`` augmented copies too.

    The recipe's own augmentation makes the copies; a recipe without augmentation keeps its softmaxes.
    """
    import keras

    from kit.pipeline import make_augmenter

    augmenter = make_augmenter(member.recipe.augment, TTA_SEED)
    if augmenter is None:
        return member
    folds = [score["fold"] for score in member.summary["folds"]]
    oof, test = np.zeros_like(member.oof), np.zeros_like(member.test)
    keras.utils.set_random_seed(TTA_SEED)
    for fold in folds:
        result, path = member.run.load_fold(fold), member.run.fold_dir(fold) / "model.keras"
        if result is None or not path.is_file():
            raise KitError(f"{path}: not found; test-time augmentation needs the fold models of run {member.run.root}")
        model = keras.saving.load_model(path)
        oof[result.val_rows] = augmented_softmax(model, train_images[result.val_rows], augmenter, copies)
        test += augmented_softmax(model, test_images, augmenter, copies) / len(folds)
        if progress:
            progress.on_fold(member.name, fold)
    return replace(member, oof=oof, test=test, tta=copies, plain_oof=member.oof)


@dataclass(frozen=True, eq=False)
class Ensemble:
    """Members, their normalised weights, the voted OOF and test softmaxes, and the OOF scores of each weighting."""

    members: list[Member]
    weights: np.ndarray
    weighting: str
    labels: np.ndarray
    test_ids: np.ndarray
    oof: np.ndarray
    test: np.ndarray
    scores: dict[str, tuple[float, float]]
    tta: int = 0

    @property
    def oof_accuracy(self) -> float:
        return self.scores[self.weighting][0]

    @property
    def oof_loss(self) -> float:
        return self.scores[self.weighting][1]

    def member_scores(self) -> list[dict[str, Any]]:
        """Per member: run, recipe, folds, weight, OOF accuracy/loss (with TTA when used) and test agreement."""
        voted = self.test.argmax(axis=1)
        rows = []
        for member, weight in zip(self.members, self.weights):
            accuracy, loss = softmax_scores(member.oof, self.labels)
            rows.append(
                {
                    "run": str(member.run.root),
                    "recipe": member.summary["recipe"],
                    "recipe_hash": member.summary["recipe_hash"],
                    "folds": len(member.summary["folds"]),
                    "seed": member.summary["seed"],
                    "weight": float(weight),
                    "tta": member.tta,
                    "oof_accuracy": accuracy,
                    "oof_loss": loss,
                    "oof_accuracy_without_tta": None
                    if member.plain_oof is None
                    else softmax_scores(member.plain_oof, self.labels)[0],
                    "test_agreement": float(np.mean(member.test.argmax(axis=1) == voted)),
                }
            )
        return rows


def build_ensemble(
    references: Sequence[str | Path],
    weights: Sequence[float] | None = None,
    auto_weights: bool = False,
    tta: int = 0,
    data_dir: Path | str | None = None,
    progress: TTAProgress | None = None,
) -> Ensemble:
    """Soft-vote the runs: equal, given or OOF-fitted weights, optionally over ``tta`` augmented test copies too."""
    if not references:
        raise KitError("no runs given; name at least one run folder")
    if weights is not None and auto_weights:
        raise KitError("--weights and --auto-weights exclude each other; pick one")
    if tta < 0:
        raise KitError(f"--tta must be 0 (off) or a number of augmented copies, got {tta}")
    members = [load_member(reference) for reference in references]
    check_compatible(members)
    given = None if weights is None else normalise_weights(weights, len(members))
    if tta:
        members = _augment_members(members, tta, data_dir, progress)
    labels = load_array(members[0].run.root / "labels.npy")
    oofs = [member.oof for member in members]
    equal = np.full(len(members), 1.0 / len(members))
    scores = {EQUAL: softmax_scores(soft_vote(oofs, equal), labels)}
    chosen, weighting = equal, EQUAL
    if given is not None:
        chosen, weighting = given, GIVEN
        scores[GIVEN] = softmax_scores(soft_vote(oofs, given), labels)
    if auto_weights:
        chosen, weighting = fit_weights(oofs, labels), AUTO
        scores[AUTO] = softmax_scores(soft_vote(oofs, chosen), labels)
        scores[CROSS_FITTED] = softmax_scores(cross_fitted(oofs, labels), labels)
    return Ensemble(
        members=members,
        weights=chosen,
        weighting=weighting,
        labels=labels,
        test_ids=load_array(members[0].run.root / "test_ids.npy"),
        oof=soft_vote(oofs, chosen),
        test=soft_vote([member.test for member in members], chosen),
        scores=scores,
        tta=tta,
    )


def _augment_members(
    members: list[Member], copies: int, data_dir: Path | str | None, progress: TTAProgress | None
) -> list[Member]:
    """Every member with test-time augmentation, reading the images once (the runs share them)."""
    train = members[0].run.images("train", data_dir).images
    test = members[0].run.images("test", data_dir).images
    if progress:
        progress.on_start(sum(len(member.summary["folds"]) for member in members if member.recipe.augment.enabled))
    return [with_tta(member, train, test, copies, progress) for member in members]


@dataclass(frozen=True)
class Prediction:
    """A written submission: the ensemble, the CSV path and the sidecar written beside it."""

    ensemble: Ensemble
    path: Path
    sidecar: dict[str, Any]


def default_name(references: Sequence[str | Path], tta: int = 0, auto_weights: bool = False) -> str:
    """The runs' folder names joined by ``+`` (shortened for many runs), with ``-tta<N>`` / ``-auto`` suffixes."""
    names = [resolve_run(reference).root.name for reference in references]
    name = "+".join(names)
    if len(name) > MAX_NAME:
        name = f"{names[0]}+{len(names) - 1}-more"
    return name + (f"-tta{tta}" if tta else "") + ("-auto" if auto_weights else "")


def submission_path(name: str, out_dir: Path | str) -> Path:
    """``out_dir/<name>.csv``; a name is a file name, not a path."""
    name = name.removesuffix(".csv")
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise KitError(
            f"--name {name!r}: give a plain file name (no folders, not starting with a dot), e.g. demo-ensemble"
        )
    return Path(out_dir) / f"{name}.csv"


def predict(
    references: Sequence[str | Path],
    name: str | None = None,
    out_dir: Path | str = SUBMISSIONS_DIR,
    weights: Sequence[float] | None = None,
    auto_weights: bool = False,
    tta: int = 0,
    data_dir: Path | str | None = None,
    force: bool = False,
    progress: TTAProgress | None = None,
) -> Prediction:
    """Soft-vote the runs; write ``out_dir/<name>.csv``, checked against the competition, and ``<name>.json``."""
    path = submission_path(name or default_name(references, tta, auto_weights), out_dir)
    refuse_overwrite(path, force)  # before any long work
    ensemble = build_ensemble(references, weights, auto_weights, tta, data_dir, progress)
    summary = ensemble.members[0].summary
    competition = get_competition(summary["competition"])
    folder = Path(data_dir if data_dir is not None else summary["data_dir"])
    expected = expected_ids(folder, competition)
    if expected is not None:
        checked = f"{folder / competition.sample_submission_file}"
    elif spec_ids(competition, len(ensemble.test_ids)) is not None:
        last = competition.first_id + len(ensemble.test_ids) - 1
        checked = f"{competition.name} format (ids {competition.first_id}…{last})"
    else:
        checked = f"{competition.name} format (no {competition.sample_submission_file} in {folder})"
    labels = ensemble.test.argmax(axis=1)
    sidecar = {
        "submission": path.name,
        "competition": competition.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": len(labels),
        "checked_against": checked,
        "weighting": ensemble.weighting,
        "weights": [float(weight) for weight in ensemble.weights],
        "tta": tta,
        "oof_accuracy": ensemble.oof_accuracy,
        "oof_loss": ensemble.oof_loss,
        "oof_scores": {key: {"accuracy": accuracy, "loss": loss} for key, (accuracy, loss) in ensemble.scores.items()},
        "runs": ensemble.member_scores(),
        "predicted_class_counts": np.bincount(labels, minlength=competition.classes).tolist(),
    }
    write_submission(ensemble.test_ids, labels, path, competition, sidecar, force, expected)
    return Prediction(ensemble, path, sidecar)


def ensemble_table(prediction: Prediction) -> Table:
    """Each run's OOF score beside the ensemble's, one row per weighting tried."""
    ensemble = prediction.ensemble
    tta = ensemble.tta > 0
    table = Table(title=f"soft vote, {len(ensemble.labels)} OOF rows" + (f", TTA ×{ensemble.tta}" if tta else ""))
    columns = ["run", "recipe", "folds", "weight", "OOF acc", "OOF loss"] + (["no TTA"] if tta else []) + ["test agree"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("run", "recipe") else "right")
    for row in ensemble.member_scores():
        plain = row["oof_accuracy_without_tta"]
        table.add_row(
            Path(row["run"]).name,
            row["recipe"],
            str(row["folds"]),
            f"{row['weight']:.3f}",
            f"{row['oof_accuracy']:.4f}",
            f"{row['oof_loss']:.4f}",
            *([("—" if plain is None else f"{plain:.4f}")] if tta else []),
            f"{row['test_agreement']:.1%}",
        )
    table.add_section()
    for weighting, (accuracy, loss) in ensemble.scores.items():
        table.add_row(
            "ensemble",
            weighting,
            "",
            "",
            f"{accuracy:.4f}",
            f"{loss:.4f}",
            *([""] if tta else []),
            "",
            style="bold green" if weighting == ensemble.weighting else "",
        )
    return table


def notes(prediction: Prediction) -> list[str]:
    """What the ensemble gains over its best member (honest about weights fit on the OOF rows), and runs TTA skipped."""
    ensemble = prediction.ensemble
    best = max(row["oof_accuracy"] for row in ensemble.member_scores())
    gain = f"ensemble OOF accuracy {ensemble.oof_accuracy:.4f} ({ensemble.oof_accuracy - best:+.4f} vs the best run)"
    if CROSS_FITTED in ensemble.scores:
        honest, equal = ensemble.scores[CROSS_FITTED][0], ensemble.scores[EQUAL][0]
        gain += (
            f"; fitted weights score {honest:.4f} ({honest - equal:+.4f} vs equal weights) on rows they were not fit on"
        )
        if honest <= equal:
            gain += ", so equal weights are the safer choice"
    skipped = [
        f"run {member.run.root}: its recipe has no augmentation, so TTA used its plain softmaxes"
        for member in ensemble.members
        if ensemble.tta and not member.tta
    ]
    return [gain, *skipped]


class TTABar:
    """Implements :class:`TTAProgress` on a rich Progress: one bar over the fold models run with augmentation."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def on_start(self, total: int) -> None:
        self.task = self.progress.add_task("test-time augmentation", total=total, status="")

    def on_fold(self, run: str, fold: int) -> None:
        self.progress.update(self.task, advance=1, status=f"{run} fold {fold}")
