"""`kit tune` and `kit bench`: their options (chief/worker roles, ``--set KEY=VALUE``), the search's live progress and
tables, and library errors reworded with the flags; what the bench shows is in :mod:`kit.cli.benchview`.

The library modules (:mod:`kit.tuning._search`, :mod:`kit.benchmark._bench`) are imported inside the commands, so
``--help`` and argument errors answer without TensorFlow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich import box
from rich.table import Table

from kit.cli.cv import TRACK_HELP, warning_line
from kit.cli.options import SET_HELP, as_flags, flags, parse_sets
from kit.cli.render import RichProgress, console
from kit.errors import KitError
from kit.utils._display import trial_number

if TYPE_CHECKING:
    from kit.tuning import TrialScore, TuneResult, TuneRole

DATA_HELP = "Competition folder; default data/<competition>, else the embedded demo data."
COMPETITION_HELP = "Competition whose file format the data has; default the data's own (competition.toml), else digits."
TUNE_ARGUMENTS = flags(
    "force",
    "restart",
    "out",
    "tuner",
    "max_trials",
    "epochs",
    "data",
    "competition",
    "recipes_dir",
    "track",
    overrides="--set",
)
BENCH_ARGUMENTS = flags("size", "notebook_epochs", "seeds", "folds", "out", "data", "competition", overrides="--set")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``kit`` app."""
    app.command("tune")(tune)
    app.command("bench")(bench)


# ---------------------------------------------------------------------------------------------------- roles


def _address(address: str, where: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise KitError.invalid(where, "HOST:PORT, e.g. 10.0.0.5:8000", address)
    return host, int(port)


def distribution(chief: str | None = None, worker: str | None = None, worker_id: str | None = None) -> TuneRole | None:
    """The role given by ``--chief HOST:PORT`` or ``--worker HOST:PORT --worker-id ID`` (None: a local search)."""
    from kit.tuning import CHIEF, WORKER_ID_PATTERN, TuneRole

    if chief and worker:
        raise KitError("--chief and --worker exclude each other: run one chief and any number of workers")
    if worker_id is not None and not worker:
        raise KitError("--worker-id needs --worker HOST:PORT (the chief's address)")
    if not chief and not worker:
        return None
    host, port = _address(chief or worker, "--chief" if chief else "--worker")
    if chief:
        return TuneRole(host, port)
    if not worker_id or not re.fullmatch(WORKER_ID_PATTERN, worker_id) or CHIEF in worker_id:
        raise KitError.invalid(
            "--worker-id",
            f"a distinct id for each worker, of letters, digits, '.', '_' or '-' (not containing {CHIEF!r}), e.g. gpu1",
            worker_id,
        )
    return TuneRole(host, port, worker_id)


# ---------------------------------------------------------------------------------------------------- tune


class TrialDisplay(RichProgress):
    """The live display of a search: the bar over trials shows the best score so far, each running trial gets a bar
    over its own epochs, and each ended trial (a resumed one too) leaves one line."""

    def __init__(self) -> None:
        super().__init__()
        self.best: float | None = None

    def _status(self) -> str:
        return "" if self.best is None else f"best val_acc {self.best:.4f}"

    def on_trial_begin(self, trial: TrialScore) -> None:
        self.units[trial.trial_id] = self.progress.add_task(f"trial {trial.number}", total=trial.epochs, status="")

    def on_trial_end(self, trial: TrialScore) -> None:
        self._started()
        task = self.units.pop(trial.trial_id, None)
        if task is not None:
            self.progress.remove_task(task)
        if trial.score is not None:
            self.best = trial.score if self.best is None else max(self.best, trial.score)
        if self.overall is not None:
            self.progress.update(self.overall, advance=1, status=self._status())
        outcome = f"val_acc {trial.score:.4f}" if trial.score is not None else trial.status.lower()
        took = f" in {trial.seconds:.0f} s" if trial.seconds is not None else ""
        line = f"trial {trial.number}: {outcome}{took}  {values_text(trial.values)}"
        self.progress.console.print(line, highlight=False, soft_wrap=False)


def short_names(keys: list[str]) -> dict[str, str]:
    """Each dotted key by its shortest tail that stays unique (``model.dense.0.units`` → ``units``)."""
    from kit.utils import dotted_key, split_key

    for cut in (1, 2, 3):
        names = [dotted_key(split_key(key)[-cut:]) for key in keys]
        if len(set(names)) == len(names):
            return dict(zip(keys, names, strict=True))
    return {key: key for key in keys}


def values_text(values: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """A trial's values as ``name=value`` words (short names, floats to 4 significant digits)."""
    from kit.tuning import brief

    names = names or short_names(list(values))
    return " ".join(f"{names.get(key, key)}={brief(value)}" for key, value in values.items())


def trials_table(result: TuneResult, top: int = 10) -> Table:
    """The ``top`` best trials: hold-out accuracy and loss, best epoch / epochs trained, seconds, the tuner that ran
    it (distributed searches), then the trial's values in one column by their short names, so it fits 80 columns."""
    from kit.tuning import DEFAULT_TUNER_ID

    shown = result.trials[:top]
    by = any(trial.tuner_id not in (None, DEFAULT_TUNER_ID) for trial in result.trials)
    names = short_names(result.space.keys)
    table = Table(
        title=f"{result.recipe}: best {len(shown)} of {len(result.trials)} {result.tuner} trials", box=box.SIMPLE_HEAD
    )
    for column in ("trial", "val acc", "loss", "epoch", "s", *(["by"] if by else [])):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("values", overflow="fold", ratio=1)
    for trial in shown:
        table.add_row(
            trial.number,
            f"{trial.score:.4f}" if trial.score is not None else trial.status.lower(),
            f"{trial.val_loss:.3f}" if trial.val_loss is not None else "—",
            f"{trial.best_epoch}/{trial.epochs}" if trial.best_epoch and trial.epochs else "—",
            f"{trial.seconds:.0f}" if trial.seconds is not None else "—",
            *([trial.tuner_id or "—"] if by else []),
            values_text(trial.values, names),
        )
    return table


def best_values_table(result: TuneResult) -> Table:
    """Each searched key with what was searched and the best trial's value."""
    from kit.tuning import brief

    table = Table(title=f"best values (trial {result.best.number})", box=box.SIMPLE_HEAD)
    table.add_column("key", overflow="fold")
    table.add_column("searched", overflow="fold")
    table.add_column("best", justify="right", style="bold green")
    for tunable in result.space.tunables:
        table.add_row(tunable.key, tunable.describe(), brief(result.best.values[tunable.key]))
    return table


def tune(
    recipe: str = typer.Argument(
        ..., help="Recipe with a tune table: name (recipes/NAME.toml) or path to a .toml file."
    ),
    tuner: Optional[str] = typer.Option(
        None, help="bayesian, hyperband or random; default the recipe's tune.tuner, else bayesian."
    ),
    max_trials: Optional[int] = typer.Option(
        None, help="Trials in all, finished ones included; default the recipe's tune.max_trials, else 10."
    ),
    epochs: Optional[int] = typer.Option(
        None, help="Override the recipe's epochs per trial (hyperband: the most epochs of a trial)."
    ),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    data: Optional[Path] = typer.Option(None, help=DATA_HELP),
    competition: Optional[str] = typer.Option(None, help=COMPETITION_HELP),
    out: Optional[Path] = typer.Option(None, help="KerasTuner project folder; default runs/tune/<recipe>."),
    recipes_dir: Path = typer.Option(Path("recipes"), help="Where to write <recipe>-tuned.toml."),
    force: bool = typer.Option(False, "--force", help="Overwrite a hand-edited <recipe>-tuned.toml."),
    restart: bool = typer.Option(
        False, "--restart", help="Discard the search in the project folder instead of resuming it."
    ),
    chief: Optional[str] = typer.Option(None, help="Serve trials to workers at HOST:PORT (KerasTuner's chief oracle)."),
    worker: Optional[str] = typer.Option(None, help="Run trials for the chief at HOST:PORT (needs --worker-id)."),
    worker_id: Optional[str] = typer.Option(None, help="This worker's distinct name, e.g. gpu1."),
    track: Optional[bool] = typer.Option(
        None, "--track/--no-track", help=TRACK_HELP.replace("the run", "the search"), show_default=False
    ),
) -> None:
    """Search the tune space of RECIPE with KerasTuner on a stratified hold-out; write recipes/RECIPE-tuned.toml."""
    from kit.tuning import TuneRole
    from kit.utils import tracking_warnings_to

    role = distribution(chief, worker, worker_id) or TuneRole.from_environment()
    overrides = parse_sets(set_)
    if role is not None:
        hint = f" (workers: --worker HOST:{role.port} --worker-id ID)" if role.is_chief else ""
        console.print(role.describe() + hint, highlight=False)
    from kit.api import tune as run_tune

    try:
        with tracking_warnings_to(warning_line), TrialDisplay() as progress:
            result = run_tune(
                recipe,
                data,
                competition=competition,
                tuner=tuner,
                max_trials=max_trials,
                epochs=epochs,
                overrides=overrides,
                out=out,
                recipes_dir=recipes_dir,
                force=force,
                restart=restart,
                role=role,
                callbacks=[progress],
                track=track,
            )
    except KitError as error:
        raise as_flags(error, TUNE_ARGUMENTS) from None
    print_tune_result(result)


def print_tune_result(result: TuneResult) -> None:
    """The tables and closing lines of a search (a worker: what it ran)."""
    from kit.tuning import recipe_reference

    if result.tuned_path is None:
        ran = ", ".join(map(trial_number, result.ran)) or "none"
        console.print(
            f"worker {result.role} ran {len(result.ran)} trials ({ran}); the chief prints the results and writes the "
            "recipe",
            highlight=False,
        )
        return
    console.print(trials_table(result))
    console.print(best_values_table(result))
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    failed = f", {len(result.failed)} failed (see their trial.json)" if result.failed else ""
    name, _ = recipe_reference(result.tuned_path)
    console.print(
        f"{len(result.ran)} trials run now, {result.resumed} resumed{failed}; project folder {result.folder}\n"
        f"wrote [bold]{result.tuned_path}[/] — run it with: kit cv {name}",
        highlight=False,
    )


# ---------------------------------------------------------------------------------------------------- bench


def bench(
    recipe: str = typer.Option("turbo", help="kit recipe to race against the notebook's pipeline."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    data: Optional[Path] = typer.Option(None, help=DATA_HELP),
    competition: Optional[str] = typer.Option(None, help=COMPETITION_HELP),
    size: Optional[int] = typer.Option(
        None, help="Rows to use (default all): fewer are a stratified sample, more repeat rows (speed only)."
    ),
    notebook_epochs: int = typer.Option(30, help="Epochs of the notebook pipeline (the notebook trains 30)."),
    seeds: int = typer.Option(3, help="Seeds of each pipeline; the figures are their medians."),
    folds: int = typer.Option(5, help="Folds per seed (kit cv's splits); accuracy is their pooled out-of-fold one."),
    quick: bool = typer.Option(
        False, "--quick", help="A smoke run: 1 seed, 2 folds, 2 notebook epochs, no speed options."
    ),
    options: bool = typer.Option(
        True, "--options/--no-options", help="Also measure precision, XLA, determinism and input-pipeline options."
    ),
    startup: bool = typer.Option(
        True, "--startup/--no-startup", help="Also time `kit cv --help` in fresh processes (median of 3)."
    ),
    cv_estimate: bool = typer.Option(
        False, "--cv-estimate", help="Time a 1-epoch 5-fold kit cv on 42,000 synthetic rows and estimate the full run."
    ),
    full_size: bool = typer.Option(
        False, "--full-size", help="Time the whole 5-fold kit cv of the recipe and of fast on 42,000 synthetic rows."
    ),
    images: bool = typer.Option(
        True, "--images/--no-images", help="Also bench generated image files: cache build, streamed epochs, > 4 GiB."
    ),
    images_only: bool = typer.Option(
        False, "--images-only", help="Run only the image-file phase; its figures go into bench.json's images entry."
    ),
    backbones: bool = typer.Option(
        True, "--backbones/--no-backbones", help="Also time backbones' training (float32, bf16) and 5-fold inference."
    ),
    backbones_only: bool = typer.Option(
        False, "--backbones-only", help="Run only the backbone phase; its figures go into bench.json's backbones entry."
    ),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="Draw the accuracy curves as bench.png by bench.json."),
    out: Path = typer.Option(Path("."), help="Folder to write bench.json (and bench.png) into."),
) -> None:
    """Race a kit recipe (default turbo) against the notebook's ImageDataGenerator pipeline on kit cv's folds."""
    overrides = parse_sets(set_)
    if quick:
        seeds, folds, notebook_epochs, options, images, backbones = 1, 2, min(notebook_epochs, 2), False, False, False
    from kit.benchmark import run_bench
    from kit.cli.benchview import PhaseDisplay, bench_backbones, bench_images, bench_notes, bench_table

    if images_only or backbones_only:  # one phase (or both), merged into the bench.json in --out
        if images_only:
            bench_images(out)
        return bench_backbones(out) if backbones_only else None

    try:
        with PhaseDisplay() as progress:
            result = run_bench(
                recipe,
                data,
                size=size,
                competition=competition,
                overrides=overrides,
                notebook_epochs=notebook_epochs,
                seeds=seeds,
                folds=folds,
                options=options,
                startup=startup,
                cv_estimate=cv_estimate,
                full_size=full_size,
                images=images,
                backbones=backbones,
                out=out,
                plot=plot,
                callbacks=[progress],
            )
    except KitError as error:
        raise as_flags(error, BENCH_ARGUMENTS) from None
    console.print(bench_table(result))
    for line in bench_notes(result):
        console.print(line, highlight=False)
    console.print(f"wrote {result.path}", highlight=False)
