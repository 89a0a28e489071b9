"""`kit predict` and `kit distill`: ensembles of run folders into a submission, and one model distilled from them.

All rendering of ensembles lives here: the member/ensemble table, the selection counts, the notes on what each method
gains (honestly scored), and the progress display.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kit.cli.cv import TRACK_HELP, warning_line
from kit.cli.options import as_flags, deprecated_flag, flags
from kit.cli.render import RichProgress, console
from kit.utils import read_json, tracking_warnings_to

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table

    from kit.ensemble import Distillation, Prediction

PREDICT_FLAGS = flags(  # library argument → flag, for errors of kit.ensemble.predict
    *("weights", "auto_weights", "select", "stack", "metric", "tta", "name", "force", "thresholds", "track"),
    **{"tta_precision": "--precision", "precision": "--precision", "out_dir": "--out", "data_dir": "--data"},
)
DISTILL_FLAGS = flags(  # and of kit.ensemble.distill (its pseudo-labels' threshold is --threshold)
    *("recipe", "alpha", "holdout", "epochs", "out", "name", "force"),
    **{"pseudo_threshold": "--threshold", "threshold": "--threshold", "data_dir": "--data"},
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``kit`` app."""
    app.command("predict")(predict)
    app.command("distill")(distill)


def predict(
    runs: list[str] = typer.Argument(..., help="Run folders (or names under runs/) to combine, all folds of each."),
    weights: str | None = typer.Option(None, help="One weight per run, comma-separated, e.g. 2,1 (default: equal)."),
    auto_weights: bool = typer.Option(
        False, "--auto-weights", help="Choose the weights that optimise the OOF score in --metric (the competition's)."
    ),
    select: bool = typer.Option(False, "--select", help="Greedy ensemble selection (Caruana), with replacement."),
    stack: bool = typer.Option(False, "--stack", help="Stack: logistic regression on the runs' OOF softmaxes."),
    metric: str | None = typer.Option(
        None,
        help="What --select and --auto-weights optimise on the OOF rows (any kit metric); default: the competition's "
        "(--select: log_loss in place of a label metric such as accuracy, F1 or qwk).",
    ),
    thresholds: bool = typer.Option(
        False, "--thresholds", help="Ordinal grades scored by qwk: cut points on the expected grade fitted on OOF rows."
    ),
    tta: int = typer.Option(0, help="Also average over N augmented copies of the images (the recipe's augmentation)."),
    precision: str = typer.Option(
        "float32", help="How --tta's models compute: float32, or int8 (~2× faster; probabilities within ~0.02)."
    ),
    name: str | None = typer.Option(None, help="Submission name; default the run names joined by +."),
    out: Path = typer.Option(Path("submissions"), help="Folder for <name>.csv, <name>.npy and <name>.json."),
    data: Path | None = typer.Option(
        None, help="Competition folder (TTA images, sample_submission.csv); default the runs' own."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing submission of that name."),
    track: bool | None = typer.Option(None, "--track/--no-track", help=TRACK_HELP, show_default=False),
) -> None:
    """Combine fold runs into submissions/<name>.csv; print each run's OOF score beside the ensemble's."""
    from kit.errors import KitError

    try:
        check_predict_options(metric, tta, precision)
    except KitError as error:
        raise as_flags(error, PREDICT_FLAGS) from None
    from kit.ensemble import check_one_way, parse_weights

    check_one_way(weights, auto_weights, select, stack, names=PREDICT_FLAGS)

    try:
        parsed = None if weights is None else parse_weights(weights, len(runs))
    except KitError as error:
        raise as_flags(error, PREDICT_FLAGS) from None
    from kit.ensemble import predict as run_predict

    try:
        with tracking_warnings_to(warning_line), PhaseProgress() as progress:
            prediction = run_predict(
                runs,
                name=name,
                out=out,
                weights=parsed,
                auto_weights=auto_weights,
                tta=tta,
                tta_precision=precision,
                data=data,
                force=force,
                callbacks=[progress],
                select=select,
                stack=stack,
                metric=metric,
                thresholds=thresholds,
                track=track,
            )
    except KitError as error:
        raise as_flags(error, PREDICT_FLAGS) from None
    console.print(ensemble_table(prediction))
    for line in notes(prediction):
        console.print(line, highlight=False)
    console.print(
        f"wrote [bold]{prediction.path}[/] ({prediction.sidecar['rows']} rows, checked against "
        f"{prediction.sidecar['checked_against']}), {prediction.path.with_suffix('.npy').name} and "
        f"{prediction.path.with_suffix('.json').name}",
        highlight=False,
    )
    local_score(prediction.path, Path(prediction.sidecar["data_dir"]))


def check_predict_options(metric: str | None, tta: int, precision: str) -> None:
    """What ``kit predict`` refuses before loading any run, each bad value as ``NAME: must be …, got …``."""
    from kit.competitions import get_metric
    from kit.errors import KitError

    if metric is not None:
        get_metric(metric)  # one line naming the metric argument
    if tta < 0:
        raise KitError.invalid("tta", "0 (off) or a number of augmented copies", tta)
    if precision not in ("float32", "int8"):
        raise KitError.invalid("tta_precision", "one of float32, int8", precision)
    if precision != "float32" and not tta:
        raise KitError(
            "only test-time augmentation runs models; add --tta N, or leave it out", argument="tta_precision"
        )


def local_score(path: Path, folder: Path) -> None:
    """Print the submission's local score where the answers are known (the demo data, a dataset's test labels)."""
    from kit.submission import has_answers, score_submission

    if not has_answers(folder):
        console.print(f"[dim]no local score: no answers in {folder} (kit score --solution FILE)[/]", highlight=False)
        return
    scored = score_submission(path, data=folder)
    console.print(
        f"local {scored.metric} [bold green]{scored.score:.4f}[/] on {scored.rows} rows of {scored.solution}",
        highlight=False,
    )


def distill(
    runs: list[str] = typer.Argument(..., help="Run folders (or names under runs/) whose equal soft vote teaches."),
    recipe: str = typer.Option(..., help="Recipe of the one model to train (name or path to a .toml file)."),
    alpha: float = typer.Option(0.5, help="Weight of the true label in the targets; the rest: the ensemble's softmax."),
    holdout: float = typer.Option(0.1, help="Stratified fraction of the training rows kept out, to score the model."),
    threshold: float | None = typer.Option(
        None, help="Also train on test rows the ensemble gives at least this probability (its softmax as targets)."
    ),
    pseudo_threshold: float | None = typer.Option(None, "--pseudo-threshold", hidden=True, help="Deprecated."),
    epochs: int | None = typer.Option(None, help="Override the recipe's number of epochs."),
    out: Path | None = typer.Option(
        None, help="Folder for model.keras, distill.json, test.npy; default runs/<competition>/<recipe>-distill."
    ),
    name: str | None = typer.Option(None, help="Submission name; default the --out folder's name."),
    data: Path | None = typer.Option(
        None, help="Competition folder with the runs' train and test rows; default the runs' own."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing distilled model and submission."),
) -> None:
    """Train one model of RECIPE on the runs' soft targets; save model.keras and a submission."""
    from kit.ensemble import distill as run_distill
    from kit.errors import KitError
    from kit.recipes import load_recipe

    loaded = load_recipe(recipe)
    try:
        with PhaseProgress() as progress:
            distilled = run_distill(
                runs,
                loaded,
                alpha=alpha,
                holdout=holdout,
                pseudo_threshold=deprecated_flag("--pseudo-threshold", "--threshold", pseudo_threshold, threshold),
                epochs=epochs,
                out=out,
                data_dir=data,
                name=name,
                force=force,
                callbacks=[progress],
            )
    except KitError as error:
        raise as_flags(error, DISTILL_FLAGS) from None
    console.print(distill_table(distilled))
    console.print(
        f"wrote [bold]{distilled.model_path}[/], {distilled.path / 'distill.json'} and [bold]{distilled.submission}[/]",
        highlight=False,
    )
    if distilled.submission is not None:  # scored as kit predict's, where the data folder holds the answers
        sidecar = read_json(distilled.submission.with_suffix(".json"))
        local_score(distilled.submission, Path(sidecar["data_dir"]))


class PhaseProgress(RichProgress):
    """The rich display without an overall bar for ``predict``, whose only long step is a phase (TTA)."""

    def on_run_begin(self, kind: str, total: int | None = None, epochs: int | None = None) -> None:
        if kind == "predict":
            self.kind = kind
            return
        super().on_run_begin(kind, total, epochs)


def ensemble_table(prediction: Prediction) -> Group:
    """Each run's OOF score (and weight, picks, test agreement), then each combination's OOF score beside the equal
    soft vote's; the method used is highlighted. Fits 80 columns."""
    from rich import box
    from rich.console import Group
    from rich.table import Table

    from kit.ensemble import EQUAL

    ensemble = prediction.ensemble
    tta, selected = ensemble.tta > 0, ensemble.selection is not None
    title = f"runs, scored on {len(ensemble.labels)} OOF rows" + (f", TTA ×{ensemble.tta}" if tta else "")
    runs = Table(
        title=title,
        caption="agree: test rows where the run votes as the ensemble",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    scored = ensemble.metric not in ("accuracy", "log_loss")  # its own column beside accuracy and log loss
    columns = (
        ["run", "recipe", "folds", "weight"]
        + (["picks"] if selected else [])
        + ([f"OOF {ensemble.metric}"] if scored else [])
        + ["OOF acc", "OOF loss"]
        + (["no TTA"] if tta else [])
        + ["agree"]
    )
    for column in columns:
        runs.add_column(
            column,
            justify="left" if column in ("run", "recipe") else "right",
            overflow="fold" if column in ("run", "recipe") else "ellipsis",
        )
    for row in ensemble.member_scores():
        plain = row["oof_accuracy_without_tta"]
        runs.add_row(
            Path(row["run"]).name,
            row["recipe"],
            str(row["folds"]),
            "—" if row["weight"] is None else f"{row['weight']:.3f}",
            *([str(row["chosen"])] if selected else []),
            *([f"{row['oof_metric']:.4f}"] if scored else []),
            f"{row['oof_accuracy']:.4f}",
            f"{row['oof_loss']:.4f}",
            *([("—" if plain is None else f"{plain:.4f}")] if tta else []),
            f"{row['test_agreement']:.1%}",
        )
    methods = Table(title="ensemble", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("method", *([f"OOF {ensemble.metric}"] if scored else []), "OOF acc", "OOF loss", "vs equal"):
        methods.add_column(column, justify="left" if column == "method" else "right")
    equal = ensemble.metric_scores[EQUAL]
    for weighting, (accuracy, loss) in ensemble.scores.items():
        methods.add_row(
            weighting,
            *([f"{ensemble.metric_scores[weighting]:.4f}"] if scored else []),
            f"{accuracy:.4f}",
            f"{loss:.4f}",
            "" if weighting == EQUAL else f"{ensemble.metric_scores[weighting] - equal:+.4f}",
            style="bold green" if weighting == ensemble.weighting else "",
        )
    return Group(runs, methods)


def notes(prediction: Prediction) -> list[str]:
    """What the ensemble gains over its best member in the competition's metric, then whether each method used beats
    the equal vote by its honest score (:func:`kit.cli.leaderboard.predict_verdicts`); runs TTA skipped."""
    from kit.cli.leaderboard import predict_verdicts
    from kit.competitions import get_metric
    from kit.ensemble import STACKED

    ensemble, said = prediction.ensemble, predict_verdicts(prediction)
    metric, scored = get_metric(ensemble.metric), ensemble.metric_scores
    best = (max if metric.greater_is_better else min)(row["oof_metric"] for row in ensemble.member_scores())
    mine = scored[ensemble.weighting]
    gain = f"ensemble OOF {metric.name} {mine:.4f} ({mine - best:+.4f} vs the best run)"
    lines = [gain + (f"; {said.pop('--auto-weights')}" if "--auto-weights" in said else "")]
    if ensemble.selection is not None:
        selection, names = ensemble.selection, [member.name for member in ensemble.members]
        picked = ", ".join(f"{names[index]} ×{selection.counts[index]}" for index in selection.chosen)
        lines.append(f"selection ({selection.metric}, {sum(selection.counts)} picks): {picked}")
        smoothed = [member.name for member in ensemble.members if member.recipe.train.label_smoothing]
        if selection.metric == "log_loss" and smoothed:
            lines.append(
                f"{', '.join(smoothed)}: trained with label smoothing, which raises the log loss of right votes too; "
                "--metric accuracy selects by votes instead"
            )
    if ensemble.stack is not None:
        lines.append(
            f"stack: logistic regression (C {ensemble.stack.c:g}, chosen by nested CV) cross-fitted on "
            f"{ensemble.stack.folds} folds, OOF {metric.name} {scored[STACKED]:.4f}"
        )
    if cuts := prediction.sidecar.get("qwk_thresholds"):
        lines.append(f"qwk cut points {', '.join(f'{cut:.2f}' for cut in cuts['cuts'])} on the expected grade")
    lines += said.values()
    lines += [
        f"run {member.run.root}: its recipe has no augmentation, so TTA used its plain softmaxes"
        for member in ensemble.members
        if ensemble.tta and not member.tta
    ]
    lines += [
        f"run {member.run.root}: TTA computed by {member.tta_engine}" for member in ensemble.members if member.tta
    ]
    return lines


def distill_table(distilled: Distillation) -> Table:
    """The student beside its teacher on the same held-out rows."""
    from rich import box
    from rich.table import Table

    record = distilled.record
    pseudo = record["pseudo"]
    extra = f" + {pseudo['rows']} pseudo-labelled test rows" if pseudo else ""
    table = Table(
        title=f"held-out {record['holdout_rows']} rows (trained on {record['train_rows']}{extra})", box=box.SIMPLE_HEAD
    )
    for column in ("model", "what", "held-out acc", "held-out loss"):
        table.add_column(column, justify="left" if column in ("model", "what") else "right")
    teacher, student = record["teacher"], record["student"]
    table.add_row(
        "ensemble",
        f"{len(record['runs'])} runs, equal soft vote",
        f"{teacher['holdout_accuracy']:.4f}",
        f"{teacher['holdout_loss']:.4f}",
    )
    table.add_row(
        "distilled",
        f"{record['recipe']}, {record['epochs']} epochs, alpha {record['alpha']:g}",
        f"{student['holdout_accuracy']:.4f}",
        f"{student['holdout_loss']:.4f}",
        style="bold green",
    )
    return table
