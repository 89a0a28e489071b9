"""The search: :func:`run_tune` runs a KerasTuner search over a recipe's ``[tune]`` space on a stratified hold-out —
resumable, distributable over machines (a chief and workers, see :class:`kit.tuning._role.TuneRole`) — and returns a
:class:`TuneResult`, having written the winner as a ``<recipe>-tuned`` recipe that ``kit cv`` runs.

Progress reaches the caller only through :mod:`kit.utils._callbacks`: ``on_run_begin("tune", max_trials, epochs)``,
``on_trial_begin(TrialScore)``, ``on_epoch_end(trial_id, epoch, logs)``, ``on_trial_end(TrialScore)`` (also once for
each trial a resumed search had finished before), ``on_run_end()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kit.competitions import Competition, as_competition
from kit.errors import ANOTHER, KitError
from kit.tuning._role import CHIEF, TuneRole, kerastuner_environment
from kit.tuning._trials import FAILED, OBJECTIVE, TrialScore, ranked
from kit.utils import Callback, CallbackList, as_callback_list
from kit.utils._callbacks import BUILDING_MODEL, LOADING_DATA

if TYPE_CHECKING:
    from kit.data import ImageSet
    from kit.recipes import Recipe
    from kit.tuning._space import SearchSpace

__all__ = ["SEARCH_RECORD", "TUNE_DIR", "TrialScore", "TuneResult", "TuneRole", "holdout_split", "run_tune"]

TUNE_DIR = Path("runs") / "tune"
RECIPES_DIR = Path("recipes")
SEARCH_RECORD = "kit_search.json"  # in the project folder: what was searched, to refuse resuming another search


@dataclass(frozen=True)
class TuneResult:
    """What a search leaves: every trial best first (on a worker: the trials it ran), the trials run now (``ran``),
    how many an earlier run had finished (``resumed``), and the tuned recipe's path (None on a worker)."""

    recipe: str
    tuner: str
    role: str  # "local", "chief" or the worker's id
    space: SearchSpace
    trials: tuple[TrialScore, ...]
    ran: tuple[str, ...]
    resumed: int
    train_rows: int
    epochs: int
    folder: Path
    tuned_path: Path | None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def best(self) -> TrialScore | None:
        """The best completed trial, if any."""
        return self.trials[0] if self.trials and self.trials[0].score is not None else None

    @property
    def best_values(self) -> dict[str, Any]:
        """The best trial's values by dotted recipe key (empty when no trial completed)."""
        return dict(self.best.values) if self.best else {}

    @property
    def failed(self) -> tuple[TrialScore, ...]:
        return tuple(trial for trial in self.trials if trial.status == FAILED)


def holdout_split(images: ImageSet, fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """A seeded stratified (fit, validation) split of labelled images, ``fraction`` of them for validation (the
    rows of :func:`kit.data.holdout_split`)."""
    from kit.data import ImageSet
    from kit.data import holdout_split as rows_split

    fit_rows, val_rows = rows_split(images.labels, fraction, seed, argument="tune.holdout")
    return tuple(ImageSet(images.images[rows], images.labels[rows], images.ids[rows]) for rows in (fit_rows, val_rows))


def run_tune(
    recipe: str | Path | Recipe,
    data: Path | str | None = None,
    *,
    competition: Competition | str | None = None,
    tuner: str | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    out: Path | str | None = None,
    recipes_dir: Path | str = RECIPES_DIR,
    force: bool = False,
    restart: bool = False,
    role: TuneRole | None = None,
    callbacks: Iterable[Callback] | Callback | None = (),
) -> TuneResult:
    """Search the ``[tune]`` space of ``recipe`` (a name, a path or a :class:`~kit.recipes._load.Recipe`) and write
    ``<recipes_dir>/<recipe>-tuned.toml`` from the winner.

    ``overrides`` (dotted recipe keys) change the recipe before the search and are written into the tuned recipe
    with the best values; ``epochs`` overrides the epochs per trial (hyperband: the most epochs of a trial) for the
    search only. Each trial trains the recipe with the trial's values on a stratified, seeded hold-out split and
    scores its best epoch's validation accuracy. The KerasTuner project folder ``out`` (default
    ``runs/tune/<recipe>``) makes a rerun resume; ``restart=True`` discards it. A ``role`` makes this process the
    chief (which serves trials and writes the recipe) or a worker (which runs them); without one, KerasTuner's
    ``KERASTUNER_*`` environment variables decide, else the search is local. A tuned recipe edited by hand is only
    overwritten with ``force=True``.
    """
    listeners = as_callback_list(callbacks)
    listeners.on_phase(LOADING_DATA)  # the start-up steps until the first epoch (no total: a passing status)
    plan = _plan(recipe, data, competition, tuner, max_trials, epochs, overrides, out, recipes_dir, role)
    if plan.writes:
        from kit.tuning._tunedfile import check_overwritable

        check_overwritable(plan.target, force)
        _check_folder(plan.folder, plan.identity, restart)
    from kit.utils import import_tensorflow

    listeners.on_phase(BUILDING_MODEL)
    import_tensorflow()  # quietly, and only once the arguments, recipe and data are known to be good
    search, before = _search(plan, restart, listeners)
    result = _result(plan, search, before)
    if plan.writes:
        if result.best is None:
            where = f"no trial of the search in {plan.folder} completed"
            raise KitError(f"{where}; the trial.json files there hold the errors")
        note = _write_tuned(result, plan.base, plan.source, plan.recipes_dir, len(plan.images), force)
        result = result if note is None else replace(result, notes=(*result.notes, note))
    listeners.on_run_end()
    return result


@dataclass(frozen=True)
class _Plan:
    """A search ready to run: the recipe as given and as trained, its space, tuner and budget, this process's role,
    the data and its hold-out split, the project folder, the tuned recipe's path and what identifies the search."""

    source: Path | None
    base: Recipe
    trained: Recipe
    overrides: dict[str, Any]
    space: SearchSpace
    kind: str
    budget: int
    role: TuneRole | None
    competition: Competition
    images: ImageSet
    train: ImageSet
    val: ImageSet
    folder: Path
    recipes_dir: Path
    target: Path
    identity: dict[str, Any]

    @property
    def writes(self) -> bool:
        """Whether this process records the search and writes the tuned recipe (a local search or the chief)."""
        return self.role is None or self.role.is_chief


def _plan(
    recipe: str | Path | Recipe,
    data: Path | str | None,
    competition: Competition | str | None,
    tuner: str | None,
    max_trials: int | None,
    epochs: int | None,
    overrides: Mapping[str, Any] | None,
    out: Path | str | None,
    recipes_dir: Path | str,
    role: TuneRole | None,
) -> _Plan:
    """Check the arguments, load the recipe and the data and split off the hold-out (no TensorFlow yet)."""
    from kit.data import load_train, resolve_data_dir
    from kit.recipes import RECIPE_SUFFIX, Recipe, find_recipe, load_recipe
    from kit.tuning._space import parse_space, trial_budget, tuner_kind

    source = None if isinstance(recipe, Recipe) else find_recipe(str(recipe))
    base = recipe if isinstance(recipe, Recipe) else load_recipe(str(source))
    overrides = dict(overrides or {})
    base = base.with_overrides(overrides) if overrides else base
    trained = base.with_overrides({"train.epochs": epochs}) if epochs is not None else base
    space = parse_space(trained)
    kind = tuner_kind(tuner) if tuner is not None else space.tuner
    budget = trial_budget(max_trials) if max_trials is not None else space.max_trials
    role = role or TuneRole.from_environment()
    competition = as_competition(competition, data)
    images = load_train(resolve_data_dir(data, competition), competition)
    trained.feature_maps(images.images.shape[1:])
    train, val = holdout_split(images, space.holdout, trained.cv.seed)
    return _Plan(
        source=source,
        base=base,
        trained=trained,
        overrides=overrides,
        space=space,
        kind=kind,
        budget=budget,
        role=role,
        competition=competition,
        images=images,
        train=train,
        val=val,
        folder=Path(out) if out else TUNE_DIR / trained.name,
        recipes_dir=Path(recipes_dir),
        target=Path(recipes_dir) / f"{trained.name}-tuned{RECIPE_SUFFIX}",
        identity=_search_identity(trained, space, kind, images),
    )


def _search(plan: _Plan, restart: bool, listeners: CallbackList) -> tuple[Any, list[str]]:
    """Run (or resume) the KerasTuner search; return the tuner and the trials an earlier run had finished."""
    from kit.tuning._hypermodel import RecipeHyperModel
    from kit.tuning._tuners import make_tuner, trial_score, watch_chief

    listeners.on_run_begin("tune", plan.budget, plan.trained.train.epochs)
    role, space, folder, writes = plan.role, plan.space, plan.folder, plan.writes
    shape = plan.images.images.shape[1:]
    hypermodel = RecipeHyperModel(plan.trained, space, shape, plan.competition.classes, len(plan.train))
    with kerastuner_environment(role):
        search = make_tuner(
            plan.kind, hypermodel, plan.budget, folder, overwrite=restart and writes, callbacks=listeners
        )
        oracle = search.oracle
        before = list(oracle.end_order) if writes else []
        if writes:
            from kit.utils import write_json

            write_json(folder / SEARCH_RECORD, plan.identity)
        for trial_id in before:  # finished by an earlier run: the caller sees them once, before any new trial
            listeners.on_trial_end(trial_score(oracle.trials[trial_id], space.keys, folder))
        watching = role is not None and role.is_chief
        try:
            if not writes or len(before) < plan.budget:  # a finished search needs no trial (and a chief no workers)
                with watch_chief(oracle, space.keys, folder, listeners if watching else None):
                    search.search(plan.train, plan.val, verbose=0)
        except RuntimeError as error:  # KerasTuner's "too many failed trials in a row", a port in use, …
            raise KitError(f"the search stopped: {_summary(error)}") from None
    return search, before


def _result(plan: _Plan, search: Any, before: list[str]) -> TuneResult:
    """The search's :class:`TuneResult`: on a worker the trials it ran, else every trial of the oracle."""
    from kit.tuning._tuners import trial_score

    common = {
        "recipe": plan.trained.name,
        "tuner": plan.kind,
        "space": plan.space,
        "train_rows": len(plan.train),
        "epochs": plan.trained.train.epochs,
        "folder": plan.folder,
        "overrides": plan.overrides,
    }
    if not plan.writes:
        ran = tuple(score.trial_id for score in search.scores)
        return TuneResult(
            **common, role=plan.role.name, trials=ranked(search.scores), ran=ran, resumed=0, tuned_path=None
        )
    oracle = search.oracle
    trials = ranked(trial_score(trial, plan.space.keys, plan.folder) for trial in oracle.trials.values())
    ran = tuple(trial_id for trial_id in oracle.end_order if trial_id not in before)
    role = CHIEF if plan.role else "local"
    return TuneResult(**common, role=role, trials=trials, ran=ran, resumed=len(before), tuned_path=plan.target)


def _write_tuned(
    result: TuneResult, recipe: Recipe, source: Path | None, recipes_dir: Path, images: int, force: bool
) -> str | None:
    """Write the tuned recipe: ``extends`` the source file with the overrides and the best values (a recipe given as
    an object, which has no file: the whole recipe with them); return a note when the source is named by its path."""
    from kit.tuning._tunedfile import recipe_reference, tuned_recipe_text, write_tuned_recipe
    from kit.utils import nest_keys

    best = result.best
    values = {**result.overrides, **best.values}
    description = f"{result.recipe} with the values of a {result.tuner} search ({OBJECTIVE} {best.score:.4f})"
    note = None
    if source is not None:
        reference, note = recipe_reference(source, near=recipes_dir)
        content = {"description": description, "extends": reference, **nest_keys(values)}
    else:
        content = {**recipe.with_overrides(best.values).table(), "description": description}
        content.pop("extends", None)
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    epochs = f"{result.epochs} epoch{'s' if result.epochs > 1 else ''} per trial"
    comments = [
        f"Written by `kit tune {result.recipe}` on {date}: the best of {len(result.trials)} {result.tuner} trials",
        (
            f"(trial {best.number}, {OBJECTIVE} {best.score:.4f} on a stratified {result.space.holdout:.0%} "
            f"hold-out of {images:,} images, {epochs})."
        ),
    ]
    if result.overrides:
        shown = ", ".join(f"{key} = {value!r}" for key, value in result.overrides.items())
        comments.append(f"Searched with the overrides {shown}; they are written below with the best values.")
    comments.append("kit tune rewrites this file after each search; once you edit it, kit tune leaves it alone unless")
    comments.append("forced (force=True in Python, --force on the command line).")
    write_tuned_recipe(result.tuned_path, tuned_recipe_text(content, comments), force)
    return note


def _summary(error: Exception) -> str:
    """The first line of an error and, for one carrying a traceback, its last line (the exception raised)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    return lines[0] if len(lines) == 1 else f"{lines[0]} (last error: {lines[-1]})"


def _search_identity(recipe: Recipe, space: SearchSpace, kind: str, images: ImageSet) -> dict[str, Any]:
    """What makes two searches the same one: the recipe as trained, the space, the tuner, hold-out and data."""
    identity = {
        "recipe": recipe.name,
        "recipe_hash": recipe.content_hash,
        "space": [asdict(tunable) for tunable in space.tunables],
        "tuner": kind,
        "holdout": space.holdout,
        "train_fingerprint": images.fingerprint(),
    }
    return json.loads(json.dumps(identity))


def _check_folder(folder: Path, identity: dict[str, Any], restart: bool) -> None:
    """Refuse to resume a project folder that holds another search (unless ``restart`` discards it)."""
    from kit.utils import read_json

    if restart or not (folder / "oracle.json").is_file():
        return
    record = folder / SEARCH_RECORD
    stored = read_json(record) if record.is_file() else {}
    stale = [key for key, value in identity.items() if stored.get(key) != value]
    if stale:
        raise KitError(
            f"{folder} holds a search with a different {stale[0].replace('_', ' ')}",
            fix=(("restart", True), ("out", ANOTHER)),
        )
