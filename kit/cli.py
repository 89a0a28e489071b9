"""The `kit` command: parse arguments, call one library function, print rich tables."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import typer
from rich.console import Console

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
