"""The models dataset of a kernel (``kit kernel build``) and what the kernel does with it (:func:`predict_kernel`).

The dataset holds, under ``runs/<name>/``, each run's fold models (``fold-K/model.keras``), its summary, labels and
recipe (``recipe.toml``) — a run folder of its own, so kit's checked readers load it as they load any run — beside
the competition spec (``competition.toml``), the combiner's parameters (the weights in ``kit-models.json``, a
stack's meta-model in ``stack.npz``) and ``kit-models.json``, which ties them together. Inside the kernel,
:func:`predict_kernel` reads the competition's test files through kit's own loaders and the spec (whatever their
number of rows and their ids), predicts them with every run's fold models as ``kit.infer`` does — or, when the
manifest's ``tta`` asks for it, averaged over the images and their augmented copies as ``kit predict --tta N`` does
(:func:`kit.ensemble._tta.augmented_softmax`, fold model by fold model) — combines the runs as ``kit predict`` did,
and writes the submission, checked against ``sample_submission.csv``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kit.competitions import Competition, load_spec, spec_toml
from kit.errors import KitError
from kit.utils import read_json, write_json

MANIFEST = "kit-models.json"
SPEC = "competition.toml"
STACK = "stack.npz"
RUNS = "runs"
FORMAT = 1  # the manifest's format: bump when a kernel built by an older kit could not read it


@dataclass(frozen=True)
class BundledRun:
    """One run in the models dataset: its folder there (``runs/<name>``), the folds used and its weight (None in a
    stack)."""

    name: str
    folder: str
    folds: tuple[int, ...]
    weight: float | None


@dataclass(frozen=True)
class KernelPrediction:
    """What :func:`predict_kernel` wrote: the submission, its rows, what it was checked against, the runs and how
    they were combined, the engines that computed each run's softmax, and the augmented copies averaged in (0: none)."""

    path: Path
    rows: int
    competition: str
    checked_against: str
    runs: tuple[str, ...]
    weighting: str
    engines: tuple[str, ...]
    seconds: float
    tta: int = 0
    softmax: np.ndarray | None = field(default=None, repr=False)  # the combined test softmax the submission is of


def copy_run(run: Any, folds: Sequence[int], into: Path) -> None:
    """Copy what inference needs of the run folder ``run`` into ``into``: the summary and labels (which tell a
    multi-label run), each fold's model (byte for byte, so the summary's checksums still hold), and the recipe as
    TOML."""
    from kit.utils import toml_dumps

    into.mkdir(parents=True)
    summary = run.summary()
    for path in (run.summary_path, run.labels_path):
        if path.is_file():
            shutil.copy2(path, into / path.name)
    for fold in folds:
        source = run.model_path(fold)
        target = into / source.relative_to(run.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    try:
        recipe = toml_dumps(summary.recipe_content)
    except (TypeError, ValueError):  # a recipe TOML cannot hold: the summary keeps it anyway
        recipe = f"# the recipe of {summary.recipe} is in the summary (recipe_content)\n"
    (into / "recipe.toml").write_text(recipe, encoding="utf-8")


def write_models(
    folder: Path,
    runs: Sequence[Any],
    weights: Sequence[float] | None,
    weighting: str,
    competition: Competition,
    stack: dict[str, np.ndarray] | None = None,
    details: dict[str, Any] | None = None,
    tta: int = 0,
) -> list[BundledRun]:
    """Write the models dataset of ``runs`` (run folders, all their folds) into the new folder ``folder``: each run's
    files, the spec, the weights (one per run; None for a ``stack``, whose meta-model's arrays go to ``stack.npz``)
    and the manifest, with ``tta`` (the augmented copies the kernel averages in, as ``kit predict --tta``) and
    ``details`` (scores, provenance) added to it."""
    folder.mkdir(parents=True)
    bundled, names = [], set()
    for index, run in enumerate(runs):
        name = run.root.name if run.root.name not in names else f"{run.root.name}-{index + 1}"
        names.add(name)
        folds = tuple(score.fold for score in run.summary().folds)
        copy_run(run, folds, folder / RUNS / name)
        weight = None if weights is None else float(weights[index])
        bundled.append(BundledRun(name, f"{RUNS}/{name}", folds, weight))
    (folder / SPEC).write_text(spec_toml(competition, "the competition spec the runs were trained with"))
    if stack is not None:
        np.savez(folder / STACK, **stack)
    manifest = {
        "kit_models": FORMAT,
        "competition": competition.name,
        "spec": SPEC,
        "weighting": weighting,
        "stack": STACK if stack is not None else None,
        "tta": int(tta),
        "runs": [
            {"name": run.name, "folder": run.folder, "folds": list(run.folds), "weight": run.weight} for run in bundled
        ],
        **(details or {}),
    }
    write_json(folder / MANIFEST, manifest)
    return bundled


def read_manifest(folder: Path) -> tuple[dict[str, Any], list[BundledRun]]:
    """The manifest of the models dataset in ``folder`` and its runs, checked; one line naming the file otherwise."""
    path = folder / MANIFEST
    manifest = read_json(path, dict)
    if manifest.get("kit_models") != FORMAT:
        raise KitError(
            f"{path}: not a models dataset this kit reads (format {manifest.get('kit_models')!r}, this kit reads "
            f"{FORMAT}); build the kernel again with this kit"
        )
    from kit.ensemble._combine import MAX_TTA

    tta = manifest.get("tta", 0)  # absent in a manifest written before kernels had TTA
    if type(tta) is not int or not 0 <= tta <= MAX_TTA:
        raise KitError(f"{path}: key tta: must be 0 (off) or a number of augmented copies up to {MAX_TTA}, not {tta!r}")
    listed = manifest.get("runs")
    if not isinstance(listed, list) or not listed:
        raise KitError(f"{path}: key runs: must list at least one run")
    runs = []
    for index, item in enumerate(listed):
        try:
            weight = item["weight"]
            run = BundledRun(str(item["name"]), str(item["folder"]), tuple(int(k) for k in item["folds"]), weight)
        except (KeyError, TypeError, ValueError):
            raise KitError(f"{path}: runs[{index}]: must have a name, a folder, folds and a weight") from None
        if (weight is None) != (manifest.get("stack") is not None):
            raise KitError(f"{path}: runs[{index}]: a weight is needed unless the runs are stacked (and only then)")
        runs.append(run)
    return manifest, runs


def unpacked_runs(folder: Path, scratch: Path) -> Path:
    """The folder holding the runs: ``folder`` itself, or where its ``runs.zip`` was unpacked (Kaggle may keep a
    folder uploaded as a zip archive packed)."""
    if (folder / RUNS).is_dir():
        return folder
    archive = folder / f"{RUNS}.zip"
    if not archive.is_file():
        raise KitError(f"{folder}: no {RUNS}/ folder (nor {RUNS}.zip): not a models dataset built by kit kernel build")
    try:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(scratch / RUNS)
    except (zipfile.BadZipFile, OSError) as error:
        raise KitError(f"{archive}: cannot unpack it ({error})") from None
    nested = scratch / RUNS / RUNS  # an archive of the folder itself rather than of its content
    return scratch / RUNS if nested.is_dir() else scratch


def run_softmax(folder: Path, run: BundledRun, images: np.ndarray, tta: int = 0) -> tuple[np.ndarray, str]:
    """The mean softmax of one bundled run's fold models on ``images`` (as ``kit.infer`` computes it; with ``tta``
    augmented copies averaged in as ``kit predict --tta`` does, see :func:`augmented_run_softmax`) and the engine that
    computed it."""
    from kit.crossval import infer

    augmented = augmented_run_softmax(folder / run.folder, run.folds, images, tta) if tta else None
    if augmented is not None:
        return augmented
    inferred = infer(folder / run.folder, images=images, folds=run.folds)
    return inferred.softmax, inferred.engine


def augmented_run_softmax(
    root: Path, folds: Sequence[int], images: np.ndarray, copies: int
) -> tuple[np.ndarray, str] | None:
    """The test softmax :func:`kit.ensemble._tta.with_tta` gives the run folder ``root``: each fold model's mean
    softmax over ``images`` and ``copies`` augmented copies of them (the recipe's exact symmetries first, then copies
    drawn as training draws them, the same bits on every call), averaged over the folds in float32 as it averages them;
    and the engines that computed it. None for a recipe without augmentation, whose softmax ``kit predict`` keeps."""
    from kit.crossval import load_fold_models, resolve_run
    from kit.engine import PROBE_ROWS, compile_predictor
    from kit.ensemble._tta import augmented_softmax
    from kit.recipes import parse_recipe

    run, images = resolve_run(root), np.asarray(images)
    summary = run.summary()
    spec = parse_recipe(summary.recipe_content, summary.recipe).augment
    if not spec.enabled:
        return None
    total: np.ndarray | float = 0.0
    engines = []
    for fold in folds:
        predictor = compile_predictor(load_fold_models(run, [fold]), probe=images[:PROBE_ROWS])
        engines.append(predictor.description)
        total = total + augmented_softmax(predictor, images, spec, copies) / len(folds)
    return np.asarray(total, dtype=np.float32), "; ".join(dict.fromkeys(engines))


def combine(folder: Path, manifest: dict[str, Any], runs: Sequence[BundledRun], probas: list[np.ndarray]) -> Any:
    """The runs' softmaxes combined as the build combined them: their weighted soft vote, or the stack."""
    if manifest.get("stack") is None:
        from kit.ensemble import soft_vote

        weights = np.asarray([run.weight for run in runs], dtype=np.float64)
        return soft_vote(probas, weights / weights.sum())
    from kit.kaggle._stackfile import load_stack

    return load_stack(folder / str(manifest["stack"]), probas[0].shape[1]).predict(probas)


def predict_kernel(
    models: Path | str, data: Path | str, out: Path | str = "submission.csv", scratch: Path | str | None = None
) -> KernelPrediction:
    """Predict the test files of the competition folder ``data`` with the models dataset ``models`` and write the
    submission ``out``, checked against ``sample_submission.csv`` when ``data`` has one (else against the spec's
    ids); the rows and ids are those of the test files found, whatever they are, and the manifest's ``tta``
    augmented copies are averaged in as ``kit predict --tta`` averages them. ``scratch``: where to unpack the
    runs if Kaggle kept them zipped (default a temporary folder)."""
    from kit.data import load_test
    from kit.submission import expected_ids, write_predictions

    started = time.perf_counter()
    models, data, out = Path(models), Path(data), Path(out)
    manifest, runs = read_manifest(models)
    competition = load_spec(models / str(manifest.get("spec", SPEC)))
    test = load_test(data, competition)
    with tempfile.TemporaryDirectory(dir=scratch) as unpacked:
        root = unpacked_runs(models, Path(unpacked))
        tta = int(manifest.get("tta", 0))
        computed = [run_softmax(root, run, test.images, tta) for run in runs]
    probas = [proba for proba, _ in computed]
    proba = combine(models, manifest, runs, probas)
    expected = expected_ids(data, competition)
    write_predictions(test.ids, proba, out, competition, None, True, expected)
    checked = str(data / competition.sample_submission_file) if expected is not None else f"{competition.name} format"
    return KernelPrediction(
        out,
        len(test),
        competition.name,
        checked,
        tuple(run.name for run in runs),
        str(manifest.get("weighting", "")),
        tuple(engine for _, engine in computed),
        time.perf_counter() - started,
        tta,
        np.asarray(proba),
    )
