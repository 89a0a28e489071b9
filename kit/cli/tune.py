"""`kit tune` and `kit bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kit.cli.render import console
from kit.competitions import DEFAULT_COMPETITION


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``kit`` app."""
    app.command("tune")(tune)
    app.command("bench")(bench)


def tune(
    recipe: str = typer.Argument(..., help="Recipe with a tune table: name (recipes/NAME.toml) or path to a .toml file."),
    tuner: Optional[str] = typer.Option(None, help="bayesian, hyperband or random; default the recipe's tune.tuner, else bayesian."),
    max_trials: Optional[int] = typer.Option(None, help="Trials in all, finished ones included; default the recipe's tune.max_trials, else 10."),
    epochs: Optional[int] = typer.Option(None, help="Override the recipe's epochs per trial (hyperband: the most epochs of a trial)."),
    data: Optional[Path] = typer.Option(None, help="Competition folder; default data/<competition>, else the embedded demo data."),
    competition: str = typer.Option(DEFAULT_COMPETITION, help="Competition whose file format the data has."),
    out: Optional[Path] = typer.Option(None, help="KerasTuner project folder; default runs/tune/<recipe>."),
    recipes_dir: Path = typer.Option(Path("recipes"), help="Where to write <recipe>-tuned.toml."),
    force: bool = typer.Option(False, "--force", help="Overwrite a hand-edited <recipe>-tuned.toml."),
    restart: bool = typer.Option(False, "--restart", help="Discard the search in the project folder instead of resuming it."),
    chief: Optional[str] = typer.Option(None, help="Serve trials to workers at HOST:PORT (KerasTuner's chief oracle)."),
    worker: Optional[str] = typer.Option(None, help="Run trials for the chief at HOST:PORT (needs --worker-id)."),
    worker_id: Optional[str] = typer.Option(None, help="This worker's distinct name, e.g. gpu1."),
) -> None:
    """Search the tune space of RECIPE with KerasTuner on a stratified hold-out; write recipes/RECIPE-tuned.toml."""
    from kit.progress import new_progress
    from kit.tuning import TrialProgress, best_values_table, distribution, recipe_reference, run_tune, trials_table

    role = distribution(chief, worker, worker_id)
    with new_progress(console) as progress:
        result = run_tune(
            recipe, data, competition, tuner=tuner, max_trials=max_trials, epochs=epochs, out=out,
            recipes_dir=recipes_dir, force=force, restart=restart, role=role, progress=TrialProgress(progress),
        )
    if result.tuned_path is None:
        ran = ", ".join(result.ran) or "none"
        console.print(f"worker {result.role} ran {len(result.ran)} trials ({ran}); the chief prints the results and writes the recipe")
        return
    console.print(trials_table(result))
    console.print(best_values_table(result))
    failed = f", {len(result.failed)} failed (see their trial.json)" if result.failed else ""
    console.print(
        f"{len(result.ran)} trials run now, {result.resumed} resumed{failed}; project folder {result.folder}\n"
        f"wrote [bold]{result.tuned_path}[/] — run it with: kit cv {recipe_reference(result.tuned_path)}",
        highlight=False,
    )


def bench(
    recipe: str = typer.Option("fast", help="kit recipe to race against the notebook's pipeline."),
    data: Optional[Path] = typer.Option(None, help="Competition folder; default data/<competition>, else the embedded demo data."),
    competition: str = typer.Option(DEFAULT_COMPETITION, help="Competition whose file format the data has."),
    size: Optional[int] = typer.Option(
        None, help="Rows to use (default all): fewer are a stratified sample, more repeat rows (speed only, not accuracy)."
    ),
    notebook_epochs: int = typer.Option(30, help="Epochs of the notebook pipeline (the notebook trains 30)."),
    options: bool = typer.Option(True, "--options/--no-options", help="Also measure precision, XLA and input-pipeline options."),
    cv_estimate: bool = typer.Option(
        False, "--cv-estimate", help="Time a 1-epoch 5-fold kit cv on 42,000 synthetic rows and estimate the full run."
    ),
    out: Path = typer.Option(Path("bench.json"), help="Where to write the results."),
) -> None:
    """Time kit's fast recipe against the notebook's ImageDataGenerator pipeline on the same 80/20 split."""
    from kit.benchmark import PhaseProgress, bench_notes, bench_table, run_bench
    from kit.progress import new_progress

    with new_progress(console) as progress:
        result = run_bench(
            recipe, data, size=size, competition=competition, notebook_epochs=notebook_epochs, options=options,
            cv_estimate=cv_estimate, out=out, report=PhaseProgress(progress),
        )
    console.print(bench_table(result))
    for line in bench_notes(result):
        console.print(line, highlight=False)
    console.print(f"wrote {out}")
