"""`kit cv`, `kit predict`, `kit runs`, `kit report`: training and the run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from kit.cli.options import SET_HELP, as_flags, flags, notes_to, parse_sets
from kit.cli.render import console, duration

CV_FLAGS = flags(  # library argument → flag, for errors of kit.cv
    "force",
    "jobs",
    "holdout",
    "threshold",
    "pseudo",
    "out",
    "cluster",
    "data",
    "competition",
    "folds",
    "epochs",
    "track",
    overrides="--set",
)
TRACK_HELP = (  # \[: a literal bracket in rich markup
    r"Log the run to MLflow (pip install kit\[track]) at KIT_TRACKING_URI, else MLFLOW_TRACKING_URI, else "
    "sqlite:///runs/mlflow.db (see it with: mlflow ui --backend-store-uri sqlite:///runs/mlflow.db); "
    "on by default where one of those variables is set."
)


def warning_line(text: str) -> None:
    """A library warning (tracking is off, the run goes on) as one line on stderr."""
    from kit.cli.render import errors

    errors.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)


def jobs_value(value: str) -> int | str:
    """``--jobs``: ``auto`` or a whole number (its range is checked with the other arguments)."""
    if value.strip().lower() == "auto":
        return "auto"
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither auto nor a whole number") from None


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``kit`` app."""
    app.command("cv")(cv)
    app.command("runs")(runs_list)
    app.command("report")(report)


def cv(
    recipe: str = typer.Argument(..., help="Recipe name (recipes/NAME.toml) or path to a .toml file."),
    data: Optional[Path] = typer.Option(
        None, help="Competition folder; default data/<competition>, else the embedded demo data."
    ),
    competition: Optional[str] = typer.Option(
        None, help="Competition whose file format the data has; default the data's own."
    ),
    folds: Optional[int] = typer.Option(None, help="Override the recipe's number of folds."),
    epochs: Optional[int] = typer.Option(None, help="Override the recipe's number of epochs."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    out: Optional[Path] = typer.Option(
        None, help="Run folder; default runs/<competition>/<recipe> (runs/demo/<recipe> on the demo data)."
    ),
    jobs: str = typer.Option(
        "auto",
        callback=lambda value: jobs_value(value),
        metavar="<auto|int>",
        help="Folds trained in parallel (joblib processes; one per GPU when several are visible); auto: one "
        "single-threaded fold per core when the folds are large enough to repay a worker's start, else 1.",
    ),
    cluster: Optional[str] = typer.Option(
        None, help="Train the folds on the Dask scheduler at this address (tcp://HOST:8786) instead of locally."
    ),
    holdout: float = typer.Option(0.0, help="Share of the training rows kept out of every fold and scored at the end."),
    pseudo: Optional[list[str]] = typer.Option(
        None, help="Pseudo-label confident test rows of this submission (.json/.csv) or these run folders (repeatable)."
    ),
    threshold: float = typer.Option(0.99, help="With --pseudo: the ensemble probability a test row needs."),
    force: bool = typer.Option(False, "--force", help="Retrain every fold instead of resuming finished ones."),
    track: Optional[bool] = typer.Option(None, "--track/--no-track", help=TRACK_HELP, show_default=False),
) -> None:
    """Train RECIPE on stratified K folds, print fold scores and the out-of-fold accuracy."""
    from kit.api import cv as run
    from kit.cli.render import RichProgress
    from kit.errors import KitError
    from kit.utils import tracking_warnings_to

    overrides = parse_sets(set_)
    try:
        with tracking_warnings_to(warning_line), notes_to(warning_line), RichProgress() as progress:
            result = run(
                recipe,
                data,
                folds=folds,
                epochs=epochs,
                out=out,
                jobs=jobs,
                force=force,
                callbacks=[progress],
                competition=competition,
                cluster=cluster,
                holdout=holdout,
                pseudo=pseudo or None,
                threshold=threshold,
                track=track,
                overrides=overrides,
            )
    except KitError as error:
        raise as_flags(error, CV_FLAGS) from None
    console.print(fold_table(result))
    if result.summary is not None and result.summary.pseudo_rows:
        console.print(f"{result.summary.pseudo_rows} pseudo-labelled test rows added to every fold's training part")
    held = (
        ""
        if result.holdout_accuracy is None
        else (f"  hold-out accuracy [bold]{result.holdout_accuracy:.4f}[/] ({result.holdout_rows} rows)")
    )
    scored = "" if result.metric == "accuracy" else f"OOF {result.metric} [bold green]{result.oof_score:.4f}[/]  "
    console.print(
        f"{scored}OOF accuracy [bold green]{result.oof_accuracy:.4f}[/]  "
        f"(fold mean {result.fold_accuracy_mean:.4f} ± {result.fold_accuracy_std:.4f}){held}  "
        f"run folder: {result.path}",
        highlight=False,
    )


def runs_list(
    folder: Path = typer.Argument(Path("runs"), help="Folder holding run folders (searched recursively)."),
) -> None:
    """List runs with recipe, overrides, epochs, recipe hash, OOF accuracy and training time: one table per
    competition (demo for kit's embedded demo data), best first."""
    from kit.crossval import list_runs

    runs = list_runs(folder)
    competitions = list(dict.fromkeys(info.competition for info in runs))
    if not competitions:
        console.print(f"no runs under {folder}/ (kit cv writes them there)", highlight=False)
    for competition in competitions:
        console.print(runs_table([info for info in runs if info.competition == competition], folder, competition))


def report(
    run: str = typer.Argument(..., help="Run folder (or name under runs/)."),
    data: Optional[Path] = typer.Option(
        None, help="Competition folder with the run's train.csv; default the run's own."
    ),
) -> None:
    """Write PNG figures and a self-contained report.html into the run folder."""
    from kit.crossval import load_run

    written = load_run(run).report(data)
    for path in written.images.values():
        console.print(f"wrote {path}", highlight=False)
    console.print(f"wrote [bold]{written.html}[/] (open it in a browser; the images are embedded)", highlight=False)


def fold_table(result) -> Table:
    """The per-fold scores of a run as a rich table."""
    table = Table(
        title=f"{result.recipe_name} — {len(result.folds)} folds on {result.train_rows} images", box=box.SIMPLE_HEAD
    )
    for column in ("fold", "epochs", "val accuracy", "val loss", "seconds"):
        table.add_column(column, justify="right")
    for score in result.folds:
        table.add_row(
            str(score.fold),
            str(score.epochs),
            f"{score.val_accuracy:.4f}",
            f"{score.val_loss:.4f}",
            f"{score.seconds:.1f}",
        )
    return table


def overrides_text(overrides: dict) -> str:
    """``lr=0.003 epochs=2``-style short text of a run's overrides (last key part only)."""
    return " ".join(f"{key.split('.')[-1]}={value}" for key, value in overrides.items())


def runs_table(runs: list, root: Path, competition: str = "") -> Table:
    """The runs of one competition: run folder, recipe and overrides, epochs, recipe hash, OOF score in the
    competition's metric (where one is not accuracy), OOF accuracy/loss, time."""
    competitions = sorted({info.result.competition for info in runs if info.result})
    scored = any(info.result.metric != "accuracy" for info in runs if info.result)
    best = "best OOF score first" if scored else "best OOF accuracy first"
    title = f"{competition or 'other'} — runs under {root}/, {best}"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("run", overflow="fold")
    table.add_column("recipe", overflow="fold")
    for column in ("ep", "hash", *(["OOF score"] if scored else []), "OOF acc", "loss", "time"):
        table.add_column(column, justify="right", no_wrap=True)
    for info in runs:
        name = str(info.path.relative_to(root)) if info.path != root else info.path.name
        if info.result is None:
            table.add_row(name, info.status, *[""] * (6 if scored else 5), style="dim")
            continue
        result = info.result
        recipe = result.recipe_name + (f" ({result.competition})" if len(competitions) > 1 else "")
        if result.overrides:
            recipe += f" [cyan]{escape(overrides_text(result.overrides))}[/]"
        table.add_row(
            escape(name),
            recipe,
            str(max(score.epochs for score in result.folds)),
            result.recipe_hash[:7],
            *([f"{result.metric} {result.oof_score:.4f}"] if scored else []),
            f"{result.oof_accuracy:.4f}",
            f"{result.oof_loss:.3f}",
            duration(result.train_seconds),
        )
    return table
