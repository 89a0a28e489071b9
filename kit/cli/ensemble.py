"""`kit predict`: ensembles of run folders into a submission."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kit.cli.render import console


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``kit`` app."""
    app.command("predict")(predict)


def predict(
    runs: list[str] = typer.Argument(..., help="Run folders (or names under runs/) to soft-vote; all folds of each are used."),
    weights: Optional[str] = typer.Option(None, help="One weight per run, comma-separated, e.g. 2,1 (default: equal)."),
    auto_weights: bool = typer.Option(False, "--auto-weights", help="Choose the weights that maximise OOF accuracy."),
    tta: int = typer.Option(0, help="Also average over N augmented copies of the images (the recipe's augmentation)."),
    name: Optional[str] = typer.Option(None, help="Submission name; default the run names joined by +."),
    out: Path = typer.Option(Path("submissions"), help="Folder for <name>.csv and <name>.json."),
    data: Optional[Path] = typer.Option(None, help="Competition folder (TTA images, sample_submission.csv); default the runs' own."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing submission of that name."),
) -> None:
    """Soft-vote fold runs into submissions/<name>.csv; print each run's OOF accuracy beside the ensemble's."""
    from kit.ensemble import TTABar, ensemble_table, notes, parse_weights
    from kit.ensemble import predict as run_predict
    from kit.progress import new_progress

    parsed = None if weights is None else parse_weights(weights, len(runs))
    with new_progress(console) as progress:
        prediction = run_predict(
            runs, name=name, out_dir=out, weights=parsed, auto_weights=auto_weights, tta=tta, data_dir=data, force=force,
            progress=TTABar(progress),
        )
    console.print(ensemble_table(prediction))
    for line in notes(prediction):
        console.print(line, highlight=False)
    console.print(
        f"wrote [bold]{prediction.path}[/] ({prediction.sidecar['rows']} rows, checked against "
        f"{prediction.sidecar['checked_against']}) and {prediction.path.with_suffix('.json').name}",
        highlight=False,
    )
