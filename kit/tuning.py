"""KerasTuner search over a recipe's ``[tune]`` space on a stratified hold-out: resumable, distributable over machines
(KerasTuner's chief/worker mode), ending in a ``<recipe>-tuned`` recipe that ``kit cv`` runs."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import keras
import keras_tuner as kt
import numpy as np
from rich.progress import Progress, TaskID
from rich.table import Table
from sklearn.model_selection import train_test_split

from kit.competitions import DEFAULT_COMPETITION, Competition, get_competition
from kit.data import ImageSet, load_train, resolve_data_dir
from kit.errors import KitError
from kit.models import build_callbacks, build_model
from kit.pipeline import evaluation_dataset, training_dataset
from kit.recipes import RECIPE_SUFFIX, Recipe, find_recipe, load_recipe
from kit.rundir import RUNS_DIR, read_json, write_bytes_atomic, write_json
from kit.space import SearchSpace, parse_space, toml_value, trial_budget, tuner_kind

TUNE_DIR = RUNS_DIR / "tune"
RECIPES_DIR = Path("recipes")
OBJECTIVE = "val_accuracy"
SEARCH_RECORD = "kit_search.json"  # in the project folder: what was searched, to refuse resuming another search
TRIAL_RECORD = "kit_trial.json"  # in each trial folder: which tuner ran the trial
HASH_LINE = "# kit-tune-hash: "
CHIEF = "chief"
DEFAULT_TUNER_ID = "tuner0"  # KerasTuner's id of a tuner outside a distributed search


# ---------------------------------------------------------------------------------------------------- model and data


def holdout_split(images: ImageSet, fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """A seeded stratified (fit, validation) split of labelled images, ``fraction`` of them for validation."""
    try:
        fit_rows, val_rows = train_test_split(
            np.arange(len(images)), test_size=fraction, stratify=images.labels, random_state=seed
        )
    except ValueError as error:
        raise KitError(
            f"tune.holdout = {fraction}: cannot hold out a stratified part of {len(images)} images ({error})"
        ) from None
    return tuple(ImageSet(images.images[rows], images.labels[rows], images.ids[rows]) for rows in (fit_rows, val_rows))


class RecipeHyperModel(kt.HyperModel):
    """The recipe as a KerasTuner HyperModel: a trial's values become recipe overrides, then ``build_model`` as in cv."""

    def __init__(self, recipe: Recipe, space: SearchSpace, input_shape: tuple[int, ...], classes: int, train_rows: int):
        super().__init__(name=recipe.name)
        self.recipe, self.space = recipe, space
        self.input_shape, self.classes, self.train_rows = input_shape, classes, train_rows

    def trial_recipe(self, hp: kt.HyperParameters) -> Recipe:
        """The recipe with the trial's values: declares the space on ``hp`` and applies its values as overrides."""
        return self.recipe.with_overrides(self.space.declare(hp))

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        keras.utils.set_random_seed(self.recipe.cv.seed)
        return build_model(self.trial_recipe(hp), self.input_shape, self.classes, train_rows=self.train_rows)

    def fit(
        self,
        hp: kt.HyperParameters,
        model: keras.Model,
        train: ImageSet,
        val: ImageSet,
        callbacks: list[keras.callbacks.Callback] = (),
        epochs: int | None = None,
        initial_epoch: int = 0,
        verbose: int = 0,
    ) -> keras.callbacks.History:
        """Train with the trial recipe's augmentation, batch size and callbacks; score on ``val``.

        The history also gets ``epochs`` (trained in all) and ``seconds``, so the oracle records them with the score.
        """
        recipe = self.trial_recipe(hp)
        batch, seed = recipe.train.batch_size, recipe.cv.seed
        started = time.perf_counter()
        history = model.fit(
            training_dataset(train.images, train.labels, self.classes, batch, recipe.augment, seed),
            validation_data=evaluation_dataset(val.images, val.labels, self.classes, batch),
            epochs=epochs or recipe.train.epochs,
            initial_epoch=initial_epoch,
            callbacks=[*build_callbacks(recipe), *callbacks],
            shuffle=False,  # the training dataset shuffles itself
            verbose=verbose,
        )
        trained = len(history.epoch)
        history.history["epochs"] = [float(initial_epoch + trained)] * trained
        history.history["seconds"] = [round(time.perf_counter() - started, 2)] * trained
        return history


# ---------------------------------------------------------------------------------------------------- trials


@dataclass(frozen=True)
class TrialRecord:
    """One trial as kit reports it: values by recipe key, score (best-epoch hold-out accuracy) and where it ran."""

    trial_id: str
    status: str
    values: dict[str, Any]
    score: float | None
    val_loss: float | None
    best_epoch: int | None
    epochs: int | None
    seconds: float | None
    tuner_id: str | None

    def line(self) -> str:
        """One line for the log: trial, score or status, time and values."""
        outcome = f"{OBJECTIVE} {self.score:.4f}" if self.score is not None else self.status.lower()
        took = f" in {self.seconds:.0f} s" if self.seconds is not None else ""
        values = " ".join(f"{key}={_brief(value)}" for key, value in self.values.items())
        return f"trial {self.trial_id}: {outcome}{took}  {values}"


def trial_record(trial: kt.engine.trial.Trial, keys: list[str], folder: Path) -> TrialRecord:
    """A KerasTuner trial as a :class:`TrialRecord`, with the tuner id from its kit record when there is one."""

    def metric(name: str) -> float | None:
        return float(trial.metrics.get_best_value(name)) if trial.metrics.exists(name) else None

    completed = trial.status == kt.engine.trial.TrialStatus.COMPLETED
    record_path = folder / f"trial_{trial.trial_id}" / TRIAL_RECORD
    values = trial.hyperparameters.values
    epochs = metric("epochs")
    return TrialRecord(
        trial_id=trial.trial_id,
        status=trial.status,
        values={key: _plain(values[key]) for key in keys if key in values},
        score=float(trial.score) if completed and trial.score is not None else None,
        val_loss=metric("val_loss") if completed else None,
        best_epoch=values.get("tuner/initial_epoch", 0) + trial.best_step + 1 if completed else None,  # hyperband resumes
        epochs=None if epochs is None else int(epochs),
        seconds=metric("seconds"),
        tuner_id=read_json(record_path).get("tuner_id") if record_path.is_file() else None,
    )


def _plain(value: Any) -> Any:
    """A NumPy scalar from an oracle as the Python value TOML and JSON write."""
    return value.item() if isinstance(value, np.generic) else value


def _ranked(records: list[TrialRecord]) -> list[TrialRecord]:
    """Completed trials best first, then the others in trial order."""
    done = sorted((record for record in records if record.score is not None), key=lambda record: -record.score)
    return done + sorted((record for record in records if record.score is None), key=lambda record: record.trial_id)


class TuneProgress(Protocol):
    """What a caller may watch: the start (with trials already finished), each trial's epochs, each trial's end."""

    def on_start(self, total: int | None, finished: list[TrialRecord], role: Distribution | None) -> None: ...

    def on_trial_begin(self, trial_id: str, values: dict[str, Any], epochs: int) -> None: ...

    def on_epoch(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None: ...

    def on_trial_end(self, record: TrialRecord) -> None: ...


class _ReportingTuner:
    """Tuner hooks: report trials and epochs to a :class:`TuneProgress`, leave a record of who ran each trial."""

    def __init__(self, *args: Any, progress: TuneProgress | None = None, **kwargs: Any) -> None:
        self.progress = progress
        self.records: list[TrialRecord] = []  # the trials this process ran, in order
        super().__init__(*args, **kwargs)

    @property
    def keys(self) -> list[str]:
        return self.hypermodel.space.keys

    def on_trial_begin(self, trial: kt.engine.trial.Trial) -> None:
        super().on_trial_begin(trial)
        if self.progress:
            values = trial.hyperparameters.values
            epochs = values.get("tuner/epochs", self.hypermodel.recipe.train.epochs)
            self.progress.on_trial_begin(trial.trial_id, {key: values.get(key) for key in self.keys}, epochs)

    def on_epoch_end(self, trial: kt.engine.trial.Trial, model: keras.Model, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(trial, model, epoch, logs=logs)
        if self.progress:
            self.progress.on_epoch(trial.trial_id, epoch + 1, dict(logs or {}))

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        super().on_trial_end(trial)  # reports the trial to the (maybe remote) oracle
        folder = Path(self.project_dir)
        write_json(folder / f"trial_{trial.trial_id}" / TRIAL_RECORD, {"tuner_id": self.tuner_id, "status": trial.status})
        record = trial_record(self.oracle.get_trial(trial.trial_id), self.keys, folder)
        self.records.append(record)
        if self.progress:
            self.progress.on_trial_end(record)


class BayesianTuner(_ReportingTuner, kt.BayesianOptimization):
    """KerasTuner's Bayesian optimisation (a Gaussian process over the space) with kit's progress and records."""


class HyperbandTuner(_ReportingTuner, kt.Hyperband):
    """KerasTuner's Hyperband (successive halving of epochs over brackets) with kit's progress and records."""


class RandomTuner(_ReportingTuner, kt.RandomSearch):
    """KerasTuner's random search with kit's progress and records."""


TUNER_CLASSES = {"bayesian": BayesianTuner, "hyperband": HyperbandTuner, "random": RandomTuner}


# ---------------------------------------------------------------------------------------------------- distribution


@dataclass(frozen=True)
class Distribution:
    """This process's part in a distributed search: the chief serves trials at ``host:port``, workers run them."""

    host: str
    port: int
    tuner_id: str = CHIEF

    @property
    def is_chief(self) -> bool:
        return self.tuner_id == CHIEF

    def environment(self) -> dict[str, str]:
        """The KerasTuner environment variables of this role."""
        return {
            "KERASTUNER_TUNER_ID": self.tuner_id,
            "KERASTUNER_ORACLE_IP": self.host,
            "KERASTUNER_ORACLE_PORT": str(self.port),
        }

    def describe(self) -> str:
        if self.is_chief:
            return f"chief: serving trials at {self.host}:{self.port} (workers: --worker HOST:{self.port} --worker-id ID)"
        return f"worker {self.tuner_id}: asking the chief at {self.host}:{self.port} for trials"

    @classmethod
    def from_environment(cls) -> Distribution | None:
        """The role KerasTuner's own variables set, if any (``KERASTUNER_ORACLE_IP`` and friends)."""
        if "KERASTUNER_ORACLE_IP" not in os.environ:
            return None
        address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ.get('KERASTUNER_ORACLE_PORT', '')}"
        tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "")
        if tuner_id == CHIEF:
            return distribution(chief=address, where="KERASTUNER_ORACLE_IP/PORT")
        return distribution(worker=address, worker_id=tuner_id, where="KERASTUNER_ORACLE_IP/PORT")


def distribution(
    chief: str | None = None, worker: str | None = None, worker_id: str | None = None, where: str | None = None
) -> Distribution | None:
    """The role given by ``--chief HOST:PORT`` or ``--worker HOST:PORT --worker-id ID`` (None: a local search)."""
    if chief and worker:
        raise KitError("--chief and --worker exclude each other: run one chief and any number of workers")
    if worker_id is not None and not worker:
        raise KitError("--worker-id needs --worker HOST:PORT (the chief's address)")
    if not chief and not worker:
        return None
    host, port = _address(chief or worker, where or ("--chief" if chief else "--worker"))
    if chief:
        return Distribution(host, port)
    if not worker_id or not re.fullmatch(r"[A-Za-z0-9_.-]+", worker_id) or CHIEF in worker_id:
        raise KitError(
            f"--worker-id {worker_id!r}: give each worker a distinct id of letters, digits, '.', '_' or '-' "
            f"(not containing {CHIEF!r}), e.g. --worker-id gpu1"
        )
    return Distribution(host, port, worker_id)


def _address(address: str, where: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise KitError(f"{where} {address!r}: expected HOST:PORT, e.g. 10.0.0.5:8000")
    return host, int(port)


@contextlib.contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration, then restore them."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _watch_chief(oracle: kt.Oracle, keys: list[str], folder: Path, progress: TuneProgress | None) -> Iterator[None]:
    """On the chief, which runs no trial itself, report each trial the workers end (polling the oracle each second)."""
    if progress is None:
        yield
        return
    stop = threading.Event()
    reported = len(oracle.end_order)

    def watch() -> None:
        nonlocal reported
        while not stop.wait(1.0):
            ended = list(oracle.end_order)
            for trial_id in ended[reported:]:
                progress.on_trial_end(trial_record(oracle.trials[trial_id], keys, folder))
            reported = len(ended)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class TuneResult:
    """What a search leaves: every trial best first (a worker: the trials it ran) and the tuned recipe's path."""

    recipe: str
    tuner: str
    role: str  # "local", "chief" or the worker id
    space: SearchSpace
    trials: tuple[TrialRecord, ...]
    ran: tuple[str, ...]
    resumed: int
    train_rows: int
    epochs: int
    folder: Path
    tuned_path: Path | None

    @property
    def best(self) -> TrialRecord | None:
        return self.trials[0] if self.trials and self.trials[0].score is not None else None

    @property
    def failed(self) -> list[TrialRecord]:
        return [trial for trial in self.trials if trial.status == kt.engine.trial.TrialStatus.FAILED]


def run_tune(
    source: str | Path,
    data_dir: Path | str | None = None,
    competition: Competition | str = DEFAULT_COMPETITION,
    tuner: str | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    out: Path | str | None = None,
    recipes_dir: Path | str = RECIPES_DIR,
    force: bool = False,
    restart: bool = False,
    role: Distribution | None = None,
    progress: TuneProgress | None = None,
) -> TuneResult:
    """Search the ``[tune]`` space of recipe ``source`` and write ``<recipes_dir>/<recipe>-tuned.toml`` from the winner.

    Each trial trains the recipe with the trial's values (``epochs`` overrides the recipe's) on a stratified, seeded
    hold-out split and scores its best epoch's validation accuracy. The KerasTuner project folder (default
    ``runs/tune/<recipe>``) makes a rerun resume; ``restart`` discards it. A ``role`` from :func:`distribution`
    makes this process the chief (which serves trials and writes the recipe) or one of the workers (which run them).
    A tuned recipe edited by hand is only overwritten with ``force``.
    """
    path = find_recipe(str(source))
    recipe = load_recipe(str(path))
    if epochs is not None:
        recipe = recipe.with_overrides({"train.epochs": epochs})
    space = parse_space(recipe)
    kind = tuner_kind(tuner) if tuner is not None else space.tuner
    budget = trial_budget(max_trials) if max_trials is not None else space.max_trials
    role = role or Distribution.from_environment()
    writes = role is None or role.is_chief
    if isinstance(competition, str):
        competition = get_competition(competition)
    images = load_train(resolve_data_dir(data_dir, competition), competition)
    recipe.feature_maps(images.images.shape[1:])
    train, val = holdout_split(images, space.holdout, recipe.cv.seed)
    folder = Path(out) if out else TUNE_DIR / recipe.name
    target = Path(recipes_dir) / f"{recipe.name}-tuned{RECIPE_SUFFIX}"
    identity = _search_identity(recipe, space, kind, images)
    if writes:
        check_overwritable(target, force)
        _check_folder(folder, identity, restart)
    hypermodel = RecipeHyperModel(recipe, space, images.images.shape[1:], competition.classes, len(train))
    with _environment(role.environment() if role else {}):
        search = _make_tuner(kind, hypermodel, budget, folder, overwrite=restart and writes, progress=progress)
        oracle = search.oracle
        before = list(oracle.end_order) if writes else []
        if writes:
            write_json(folder / SEARCH_RECORD, identity)
        if progress:
            finished = [trial_record(oracle.trials[trial_id], space.keys, folder) for trial_id in before]
            progress.on_start(budget, finished, role)
        watch = _watch_chief(oracle, space.keys, folder, progress) if role and role.is_chief else contextlib.nullcontext()
        try:
            if not writes or len(before) < budget:  # a finished search needs no trial (and a chief no workers)
                with watch:
                    search.search(train, val, verbose=0)
        except RuntimeError as error:  # KerasTuner's "too many failed trials in a row", a port in use, …
            raise KitError(f"the search stopped: {_summary(error)}") from None
    common = dict(
        recipe=recipe.name, tuner=kind, space=space, train_rows=len(train), epochs=recipe.train.epochs, folder=folder
    )
    if not writes:
        ran = tuple(record.trial_id for record in search.records)
        trials = tuple(_ranked(search.records))
        return TuneResult(**common, role=role.tuner_id, trials=trials, ran=ran, resumed=0, tuned_path=None)
    records = _ranked([trial_record(trial, space.keys, folder) for trial in oracle.trials.values()])
    ran = tuple(trial_id for trial_id in oracle.end_order if trial_id not in before)
    role_name = CHIEF if role else "local"
    result = TuneResult(**common, role=role_name, trials=tuple(records), ran=ran, resumed=len(before), tuned_path=target)
    if result.best is None:
        raise KitError(f"no trial of the search in {folder} completed; the trial.json files there hold the errors")
    write_tuned_recipe(target, tuned_recipe_text(result, path, Path(recipes_dir), len(images)), force)
    return result


def _summary(error: Exception) -> str:
    """The first line of an error and, for one carrying a traceback, its last line (the exception raised)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    return lines[0] if len(lines) == 1 else f"{lines[0]} (last error: {lines[-1]})"


def _make_tuner(
    kind: str, hypermodel: RecipeHyperModel, max_trials: int, folder: Path, overwrite: bool, progress: TuneProgress | None
) -> _ReportingTuner:
    """The KerasTuner tuner of ``kind`` on ``folder`` (reloaded when it holds a search), maximising hold-out accuracy."""
    budget = {"max_epochs": hypermodel.recipe.train.epochs} if kind == "hyperband" else {"max_trials": max_trials}
    with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner prints "Reloading Tuner from …"; on_start reports it
        search = TUNER_CLASSES[kind](
            hypermodel=hypermodel,
            objective=kt.Objective(OBJECTIVE, direction="max"),
            seed=hypermodel.recipe.cv.seed + 1,  # KerasTuner draws a random seed for 0
            directory=str(folder.parent),
            project_name=folder.name,
            overwrite=overwrite,
            progress=progress,
            **budget,
        )
    if kind == "hyperband":
        search.oracle.max_trials = max_trials  # Hyperband's own budget is its brackets; this caps them
    return search


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
    if restart or not (folder / "oracle.json").is_file():
        return
    record = folder / SEARCH_RECORD
    stored = read_json(record) if record.is_file() else {}
    stale = [key for key, value in identity.items() if stored.get(key) != value]
    if stale:
        raise KitError(
            f"{folder} holds a search with a different {stale[0].replace('_', ' ')}; "
            "rerun with --restart to discard it, or pick another --out folder"
        )


# ---------------------------------------------------------------------------------------------------- tuned recipe


def tuned_recipe_text(result: TuneResult, source: Path, recipes_dir: Path, images: int) -> str:
    """The tuned recipe: a header naming the search, ``extends`` the source and the best values as TOML tables."""
    best = result.best
    tables: dict[str, list[str]] = {}
    for key, value in best.values.items():
        table, name = key.rsplit(".", 1)
        tables.setdefault(table, []).append(f"{name} = {toml_value(value)}")
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    description = f"{result.recipe} with the values of a {result.tuner} search ({OBJECTIVE} {best.score:.4f})"
    lines = [
        f"# Written by `kit tune {result.recipe}` on {date}: the best of {len(result.trials)} {result.tuner} trials",
        f"# (trial {best.trial_id}, {OBJECTIVE} {best.score:.4f} on a stratified {result.space.holdout:.0%} hold-out of "
        f"{images:,} images, {result.epochs} epoch{'s' if result.epochs > 1 else ''} per trial).",
        "# kit tune rewrites this file after each search; once you edit it, kit tune leaves it alone unless given --force.",
        "",
        f"description = {toml_value(description)}",
        f"extends = {toml_value(recipe_reference(source, near=recipes_dir))}",
    ]
    for table, assignments in tables.items():
        lines += ["", f"[{table}]", *assignments]
    body = "\n".join(lines) + "\n"
    return f"{HASH_LINE}{_digest(body)}\n{body}"


def recipe_reference(path: Path, near: Path | None = None) -> str:
    """How to name a recipe file: its name when the recipe search (from ``near`` first) finds this file, else its path."""
    try:
        if find_recipe(path.stem, near=near).resolve() == path.resolve():
            return path.stem
    except KitError:
        pass
    return str(path.resolve())


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def written_by_kit(path: Path) -> bool:
    """Whether ``path`` is a tuned recipe exactly as kit tune wrote it (its hash line matches the rest of the file)."""
    first, _, body = path.read_text(encoding="utf-8").partition("\n")
    return first.startswith(HASH_LINE) and first.removeprefix(HASH_LINE) == _digest(body)


def check_overwritable(path: Path, force: bool) -> None:
    """Refuse to replace a file kit tune did not write as it stands (a hand-edited tuned recipe) unless ``force``."""
    if path.exists() and not force and not written_by_kit(path):
        raise KitError(
            f"{path} was edited by hand (or not written by kit tune); rerun with --force to overwrite it, or move it away"
        )


def write_tuned_recipe(path: Path, text: str, force: bool) -> None:
    """Write the tuned recipe atomically, checking again that no hand edit is lost."""
    check_overwritable(path, force)
    write_bytes_atomic(path, text.encode())
    load_recipe(str(path))  # it must load as it is: a recipe kit cv accepts


# ---------------------------------------------------------------------------------------------------- display


class TrialProgress:
    """Implements :class:`TuneProgress` on a rich Progress: a bar over trials (best score so far), one per running trial."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.overall: TaskID | None = None
        self.running: dict[str, TaskID] = {}
        self.best: float | None = None

    def _status(self) -> str:
        return "" if self.best is None else f"best {OBJECTIVE} {self.best:.4f}"

    def on_start(self, total: int | None, finished: list[TrialRecord], role: Distribution | None) -> None:
        self.best = max((record.score for record in finished if record.score is not None), default=None)
        self.overall = self.progress.add_task("trials", total=total, completed=len(finished), status=self._status())
        if finished:
            self.progress.console.print(f"resuming: {len(finished)} finished trials kept")
        if role:
            self.progress.console.print(role.describe(), highlight=False)

    def on_trial_begin(self, trial_id: str, values: dict[str, Any], epochs: int) -> None:
        self.running[trial_id] = self.progress.add_task(f"trial {trial_id}", total=epochs, status="")

    def on_epoch(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        status = f"val_acc {logs.get('val_accuracy', float('nan')):.4f}  val_loss {logs.get('val_loss', float('nan')):.4f}"
        self.progress.update(self.running[trial_id], completed=epoch, status=status)

    def on_trial_end(self, record: TrialRecord) -> None:
        task = self.running.pop(record.trial_id, None)
        if task is not None:
            self.progress.remove_task(task)
        if record.score is not None:
            self.best = max(record.score, self.best if self.best is not None else record.score)
        self.progress.update(self.overall, advance=1, status=self._status())
        self.progress.console.print(record.line(), highlight=False)


def _brief(value: Any) -> str:
    """A value for tables and logs: floats to 4 significant digits, strings without quotes."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return value if isinstance(value, str) else toml_value(value)


def trials_table(result: TuneResult, top: int = 10) -> Table:
    """The ``top`` best trials: hold-out accuracy and loss, best epoch / epochs trained, seconds, the tuner that ran
    it (distributed searches), then each searched value (headed by its key less the section when that stays unique)."""
    shown = result.trials[:top]
    by = any(record.tuner_id not in (None, DEFAULT_TUNER_ID) for record in result.trials)
    keys = result.space.keys
    short = [key.split(".", 1)[1] for key in keys]
    headers = short if len(set(short)) == len(short) else keys
    table = Table(title=f"{result.recipe}: best {len(shown)} of {len(result.trials)} {result.tuner} trials")
    for column in ("trial", "val acc", "val loss", "epoch", "s", *(["by"] if by else []), *headers):
        table.add_column(column, justify="right", overflow="fold")
    for record in shown:
        table.add_row(
            record.trial_id,
            f"{record.score:.4f}" if record.score is not None else record.status.lower(),
            f"{record.val_loss:.4f}" if record.val_loss is not None else "—",
            f"{record.best_epoch}/{record.epochs}" if record.best_epoch and record.epochs else "—",
            f"{record.seconds:.0f}" if record.seconds is not None else "—",
            *([record.tuner_id or "—"] if by else []),
            *(_brief(record.values[key]) if key in record.values else "—" for key in keys),
        )
    return table


def best_values_table(result: TuneResult) -> Table:
    """Each searched key with what was searched and the best trial's value."""
    table = Table(title=f"best values (trial {result.best.trial_id})")
    table.add_column("key")
    table.add_column("searched")
    table.add_column("best", justify="right", style="bold green")
    for tunable in result.space.tunables:
        table.add_row(tunable.key, tunable.describe(), toml_value(result.best.values[tunable.key]))
    return table
