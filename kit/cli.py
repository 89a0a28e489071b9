"""The `kit` command: parse arguments, call one library function, print rich tables."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import typer
from rich.console import Console
from rich.table import Table

from kit.competitions import DEFAULT_COMPETITION, get_competition
from kit.errors import KitError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Fold-based CV, tuning, ensembling and submission for Kaggle pixel-CSV image competitions.",
)
console = Console()
errors = Console(stderr=True)


@app.callback()
def root() -> None:
    """Fold-based CV, tuning, ensembling and submission for Kaggle pixel-CSV image competitions."""


@app.command("demo-data")
def demo_data(
    dest: Path = typer.Option(Path("data/demo"), help="Folder to write train.csv, test.csv, sample_submission.csv, solution.csv."),
    competition: str = typer.Option(DEFAULT_COMPETITION, help="Competition whose file format to write."),
) -> None:
    """Write competition-format CSVs built from scikit-learn's real handwritten digits (no network needed)."""
    from kit.data import write_demo_data

    folder = write_demo_data(dest, get_competition(competition))
    console.print(f"wrote demo data to [bold]{folder}[/] (answers for the test rows in solution.csv)")


@app.command("cv")
def cv(
    recipe: str = typer.Argument(..., help="Recipe name (recipes/NAME.toml) or path to a .toml file."),
    data: Optional[Path] = typer.Option(None, help="Competition folder; default data/<competition>, else the embedded demo data."),
    competition: str = typer.Option(DEFAULT_COMPETITION, help="Competition whose file format the data has."),
    folds: Optional[int] = typer.Option(None, help="Override the recipe's number of folds."),
    epochs: Optional[int] = typer.Option(None, help="Override the recipe's number of epochs."),
    out: Optional[Path] = typer.Option(None, help="Run folder; default runs/<recipe>."),
    jobs: int = typer.Option(1, help="Folds trained in parallel (joblib processes)."),
    force: bool = typer.Option(False, "--force", help="Retrain every fold instead of resuming finished ones."),
) -> None:
    """Train RECIPE on stratified K folds, print fold scores and the out-of-fold accuracy."""
    from kit.cv import run_cv
    from kit.progress import FoldProgress, new_progress
    from kit.recipes import load_recipe

    overrides = {key: value for key, value in {"cv.folds": folds, "train.epochs": epochs}.items() if value is not None}
    loaded = load_recipe(recipe).with_overrides(overrides)
    with new_progress(console) as progress:
        watcher = FoldProgress(progress, loaded.cv.folds, loaded.train.epochs)
        summary = run_cv(loaded, data, competition, out, jobs=jobs, force=force, progress=watcher)
    console.print(fold_table(summary))
    console.print(
        f"OOF accuracy [bold green]{summary['oof_accuracy']:.4f}[/]  "
        f"(fold mean {summary['fold_accuracy_mean']:.4f} ± {summary['fold_accuracy_std']:.4f})  "
        f"run folder: {out or Path('runs') / loaded.name}"
    )


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


def main() -> None:
    """Console-script entry point: run the app and turn any KitError into one line on stderr."""
    try:
        app()
    except KitError as error:
        errors.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        errors.print("[yellow]interrupted[/]: finished folds are kept; rerun the same command to resume")
        sys.exit(130)
