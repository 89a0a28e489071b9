"""`kit cv`, `kit predict`, `kit runs`, `kit report`: training and the run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kit.cli.render import console
from kit.competitions import DEFAULT_COMPETITION


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``kit`` app."""
    app.command("cv")(cv)
    app.command("runs")(runs_list)
    app.command("report")(report)


def cv(
    recipe: str = typer.Argument(..., help="Recipe name (recipes/NAME.toml) or path to a .toml file."),
    data: Optional[Path] = typer.Option(None, help="Competition folder; default data/<competition>, else the embedded demo data."),
    competition: str = typer.Option(DEFAULT_COMPETITION, help="Competition whose file format the data has."),
    folds: Optional[int] = typer.Option(None, help="Override the recipe's number of folds."),
    epochs: Optional[int] = typer.Option(None, help="Override the recipe's number of epochs."),
    out: Optional[Path] = typer.Option(None, help="Run folder; default runs/<recipe>."),
    jobs: int = typer.Option(1, help="Folds trained in parallel (joblib processes; one per GPU when several are visible)."),
    cluster: Optional[str] = typer.Option(
        None, help="Train the folds on the Dask scheduler at this address (tcp://HOST:8786) instead of locally."
    ),
    force: bool = typer.Option(False, "--force", help="Retrain every fold instead of resuming finished ones."),
) -> None:
    """Train RECIPE on stratified K folds, print fold scores and the out-of-fold accuracy."""
    from kit.crossval import run_cv
    from kit.cli.render import RichProgress
    from kit.recipes import load_recipe

    overrides = {key: value for key, value in {"cv.folds": folds, "train.epochs": epochs}.items() if value is not None}
    loaded = load_recipe(recipe).with_overrides(overrides)
    with new_progress(console) as progress:
        watcher = FoldProgress(progress, loaded.cv.folds, loaded.train.epochs)
        summary = run_cv(loaded, data, competition, out, jobs=jobs, force=force, progress=watcher, cluster=cluster)
    console.print(fold_table(summary))
    console.print(
        f"OOF accuracy [bold green]{summary['oof_accuracy']:.4f}[/]  "
        f"(fold mean {summary['fold_accuracy_mean']:.4f} ± {summary['fold_accuracy_std']:.4f})  "
        f"run folder: {out or Path('runs') / loaded.name}"
    )



def runs_list(
    folder: Path = typer.Argument(Path("runs"), help="Folder holding run folders (searched recursively)."),
) -> None:
    """List runs with recipe, folds, OOF accuracy, training time and date, best first."""
    from kit.rundir import list_runs, runs_table

    console.print(runs_table(list_runs(folder), folder))


def report(
    run: str = typer.Argument(..., help="Run folder (or name under runs/)."),
    data: Optional[Path] = typer.Option(None, help="Competition folder with the run's train.csv; default the run's own."),
) -> None:
    """Write PNG figures and a self-contained report.html into the run folder."""
    from kit.report import write_report

    written = write_report(run, data)
    for path in written.images.values():
        console.print(f"wrote {path}", highlight=False)
    console.print(f"wrote [bold]{written.html}[/] (open it in a browser; the images are embedded)", highlight=False)


def fold_table(summary: dict) -> Table:
    """The per-fold scores of a run summary as a rich table."""
    table = Table(title=f"{summary['recipe']} — {len(summary['folds'])} folds on {summary['data']['train_rows']} images")
    for column in ("fold", "epochs", "val accuracy", "val loss", "seconds"):
        table.add_column(column, justify="right")
    for score in summary["folds"]:
        table.add_row(
            str(score["fold"]), str(score["epochs"]), f"{score['val_accuracy']:.4f}", f"{score['val_loss']:.4f}",
            f"{score['seconds']:.1f}",
        )
    return table
