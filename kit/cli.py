"""The `kit` command: parse arguments, call one library function, print rich tables."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import typer
from rich.console import Console
from rich.markup import escape
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
WITHOUT_TENSORFLOW = {"fetch", "submit", "submissions", "runs"}


@app.callback()
def root(context: typer.Context) -> None:
    """Fold-based CV, tuning, ensembling and submission for Kaggle pixel-CSV image competitions."""
    if context.invoked_subcommand not in WITHOUT_TENSORFLOW:
        import_tensorflow_quietly()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its native start-up lines (oneDNN notice, CUDA stubs) kept off the terminal."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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
    jobs: int = typer.Option(1, help="Folds trained in parallel (joblib processes; one per GPU when several are visible)."),
    cluster: Optional[str] = typer.Option(
        None, help="Train the folds on the Dask scheduler at this address (tcp://HOST:8786) instead of locally."
    ),
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
        summary = run_cv(loaded, data, competition, out, jobs=jobs, force=force, progress=watcher, cluster=cluster)
    console.print(fold_table(summary))
    console.print(
        f"OOF accuracy [bold green]{summary['oof_accuracy']:.4f}[/]  "
        f"(fold mean {summary['fold_accuracy_mean']:.4f} ± {summary['fold_accuracy_std']:.4f})  "
        f"run folder: {out or Path('runs') / loaded.name}"
    )


@app.command("tune")
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
    from kit.tune import TrialProgress, best_values_table, distribution, recipe_reference, run_tune, trials_table

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


@app.command("bench")
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
    from kit.bench import PhaseProgress, bench_notes, bench_table, run_bench
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


@app.command("predict")
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


@app.command("runs")
def runs_list(
    folder: Path = typer.Argument(Path("runs"), help="Folder holding run folders (searched recursively)."),
) -> None:
    """List runs with recipe, folds, OOF accuracy, training time and date, best first."""
    from kit.runs import list_runs, runs_table

    console.print(runs_table(list_runs(folder), folder))


@app.command("report")
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


@app.command("fetch")
def fetch(
    competition: str = typer.Option(DEFAULT_COMPETITION, help="Competition whose files to download."),
    dest: Path = typer.Option(Path("data"), help="Parent folder: the files go to DEST/<competition>/."),
    force: bool = typer.Option(False, "--force", help="Download every file again, even those present and valid."),
) -> None:
    """Download the competition's files from Kaggle into DEST/<competition>/ and check them."""
    from kit.kaggle import fetch as fetch_files
    from kit.kaggle import fetched_table

    with console.status("fetching…") as status:
        fetched = fetch_files(competition, dest, force, progress=status.update)
    console.print(fetched_table(fetched))
    new = sum(item.downloaded for item in fetched.files)
    done = f"downloaded {new} files" if new else "nothing to download (--force downloads again)"
    console.print(f"{done}; {fetched.folder} matches the {fetched.competition} format", highlight=False)


@app.command("submit")
def submit(
    file: Path = typer.Argument(..., help="Submission CSV, e.g. submissions/NAME.csv written by kit predict."),
    message: str = typer.Option(..., "-m", "--message", help="Description of the submission shown on Kaggle."),
    competition: Optional[str] = typer.Option(None, help="Competition; default the one in FILE's sidecar, else digit-recognizer."),
    data: Optional[Path] = typer.Option(None, help="Folder whose sample_submission.csv the ids must match; default data/<competition>."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until Kaggle has scored it and print the public score."),
    timeout: float = typer.Option(1800, help="Seconds to wait for the score."),
) -> None:
    """Check FILE as kit predict does, submit it to Kaggle and (by default) wait for its public score."""
    from kit.kaggle import Poll
    from kit.kaggle import submit as submit_file

    with console.status("submitting…") as status:
        result = submit_file(file, message, competition, data, wait, poll=Poll(timeout=timeout), progress=status.update)
    scored = result.submission
    left = "" if result.left_today is None else f"; {result.left_today} submissions left today"
    if scored.status == "complete":
        line = f"public score [bold green]{scored.public_score}[/] for {file.name} (submission {scored.ref})"
    else:
        line = f"submitted {file.name} to {result.competition} (submission {scored.ref}), not scored yet: see kit submissions"
    console.print(line + left, highlight=False)


@app.command("submissions")
def submissions(
    competition: str = typer.Option(DEFAULT_COMPETITION, help="Competition whose submissions to list."),
    count: int = typer.Option(20, help="How many recent submissions to show."),
) -> None:
    """List your recent submissions to the competition, newest first, with status and scores."""
    from kit.kaggle import submissions as list_submissions
    from kit.kaggle import submissions_table

    console.print(submissions_table(list_submissions(competition, count)))


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
        errors.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        errors.print("[yellow]interrupted[/]: finished folds and trials are kept; rerun the same command to resume")
        sys.exit(130)
